DROP TABLE objections;
DROP TABLE repairs;
