ALTER TABLE fw_customer ADD COLUMN nickname varchar(40);
INSERT INTO fw_customer (name, email, ssn, nickname) VALUES ('OrmCanary Flyway One', 'ormcanary.fw1@example.org', '700-00-0001', 'one');
INSERT INTO fw_customer (name, email, ssn) VALUES ('OrmCanary Flyway Two', 'ormcanary.fw2@example.org', '700-00-0002');
INSERT INTO fw_order (customer_id, total) SELECT id, 7 FROM fw_customer WHERE ssn = '700-00-0001';
