-- Encrypted-column benchmark: read one row by its plain primary key (all columns, so the proxy
-- decrypts every encrypted one). pgbench -D rows=<rows in bench_patient>.
\set id random(1, :rows)
SELECT id, name, email, ssn, city, diagnosis, notes FROM bench_patient WHERE id = :id;
