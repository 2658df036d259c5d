// The maintenance database's statements: what a test runner sends there passes, anything that
// reads or changes a relation of `postgres` is refused.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../rewrite/parser.ts';
import { maintenanceRefusal } from './maintenance.ts';

beforeAll(async () => { await loadParser(); });

describe('maintenanceRefusal', () => {
  it.each([
    'CREATE DATABASE "test_app"', 'DROP DATABASE "test_app"', "SET TIME ZONE 'UTC'", 'SHOW server_version', 'BEGIN', 'COMMIT',
    'SELECT 1', "SELECT set_config('TimeZone', 'UTC', false)", 'SELECT version(); SELECT current_database()',
  ])('passes %s', (sql) => expect(maintenanceRefusal(sql)).toBeNull());
  it.each([
    'SELECT * FROM secrets', 'SELECT (SELECT count(*) FROM secrets)', 'SELECT 1 WHERE EXISTS (SELECT 1 FROM secrets)',
    'SELECT * FROM generate_series(1, 2)', 'WITH x AS (SELECT 1) SELECT * FROM x', 'INSERT INTO t VALUES (1)',
    'CREATE TABLE t (a int)', 'DROP TABLE t', 'TRUNCATE t', "COPY t TO STDOUT", 'SELECT 1; DELETE FROM t', 'DECLARE c CURSOR FOR SELECT 1',
    'SELECT 1 INTO t', 'EXPLAIN SELECT 1', 'LOCK TABLE t',
  ])('refuses %s', (sql) => expect(maintenanceRefusal(sql)).toMatch(/serves database "postgres" only to create and drop test databases/));
  it('leaves text that does not parse to the rewriter', () => expect(maintenanceRefusal('SELEC 1')).toBeNull());
});
