// SET ROLE to the session's own backend login passes (Flyway restores the role it found); every
// other SET ROLE is left to the rewriter, which refuses it (the role is pinned).
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser } from '../rewrite/parser.ts';
import { setsOwnRole } from './own-role.ts';

beforeAll(async () => { await loadParser(); });

describe('setsOwnRole', () => {
  it.each(["SET ROLE 'app'", 'SET ROLE app', 'set session role "app"', 'SET LOCAL ROLE app;', 'SET ROLE NONE', "  SET ROLE 'none'"])('passes %s for login app', (sql) => {
    expect(setsOwnRole(sql, 'app')).toBe(true);
  });
  it.each([
    "SET ROLE 'admin'", 'SET ROLE "App"', "SET ROLE 'app'; SET ROLE admin", "SET ROLE 'app'; SELECT 1", 'RESET ROLE', 'SET ROLE TO DEFAULT',
    "SET SESSION AUTHORIZATION 'app'", "SET search_path = 'app'", "SELECT set_config('role', 'admin', false)", 'SET ROLE app garbage', '',
  ])('leaves %s to the rewriter', (sql) => {
    expect(setsOwnRole(sql, 'app')).toBe(false);
  });
  it('passes nothing without a known login', () => {
    expect(setsOwnRole("SET ROLE 'app'", undefined)).toBe(false);
  });
});
