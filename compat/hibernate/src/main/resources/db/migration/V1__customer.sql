CREATE TABLE fw_customer (
  id bigserial PRIMARY KEY,
  name varchar(100) NOT NULL,
  email varchar(200) UNIQUE,
  ssn varchar(11)
);
CREATE TABLE fw_order (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES fw_customer (id),
  total integer NOT NULL
);
CREATE INDEX fw_customer_ssn ON fw_customer (ssn);
