DROP TABLE rule_activations;
