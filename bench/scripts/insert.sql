-- Encrypted-column benchmark: insert one row of random values (9-digit numbers sent as text
-- parameters with -M prepared, so the proxy encrypts them at Bind).
\set id random(1, 1000000000)
\set a random(100000000, 999999999)
\set b random(100000000, 999999999)
\set c random(100000000, 999999999)
\set d random(100000000, 999999999)
\set e random(100000000, 999999999)
\set f random(100000000, 999999999)
INSERT INTO bench_patient_insert (id, name, email, ssn, city, diagnosis, notes) VALUES (:id, :a, :b, :c, :d, :e, :f);
