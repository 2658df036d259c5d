import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../rewrite/parser.ts';
import { localStatementTimeoutOf, statementTimeoutOf } from './decide.ts';

describe('split: the client statement_timeout fragment connections follow', () => {
  beforeAll(async () => { await loadParser(); });

  it('SET / RESET set the session value, SET LOCAL only the transaction value', () => {
    expect(statementTimeoutOf("SET statement_timeout = '500ms'")).toBe('500ms');
    expect(statementTimeoutOf('SET statement_timeout TO 250')).toBe('250');
    expect(statementTimeoutOf('RESET statement_timeout')).toBe('0');
    expect(statementTimeoutOf('RESET ALL')).toBe('0');
    expect(statementTimeoutOf("SET LOCAL statement_timeout = '500ms'")).toBeUndefined();
    expect(localStatementTimeoutOf("SET LOCAL statement_timeout = '500ms'")).toBe('500ms');
    expect(localStatementTimeoutOf('SET LOCAL statement_timeout TO DEFAULT')).toBe('0');
    expect(localStatementTimeoutOf("SET statement_timeout = '500ms'")).toBeUndefined();
    expect(localStatementTimeoutOf("SET LOCAL lock_timeout = '1s'")).toBeUndefined();
    expect(localStatementTimeoutOf('SELECT 1')).toBeUndefined();
  });
});
