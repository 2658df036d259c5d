-- Two-stage statement benchmark (issue 10): a function of an encrypted column, one row by its plain
-- primary key (the backend finds the row, the proxy computes upper()). pgbench -D rows=<rows>.
\set id random(1, :rows)
SELECT id, upper(name) FROM bench_patient WHERE id = :id;
