-- Two-stage statement benchmark (issue 10): the first 20 rows by an encrypted (randomized) name
-- among the rows with id <= :n (pushed to the backend; the proxy sorts). pgbench -D n=<rows>.
SELECT id, name FROM bench_patient WHERE id <= :n ORDER BY name, id LIMIT 20;
