DROP TABLE data_migrations;
