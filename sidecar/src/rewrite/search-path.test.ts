// search_path may be set to its pinned schemas however spelled (Flyway), never to others.
import { beforeAll, describe, expect, it } from 'vitest';
import { loadParser, parseStatements } from './parser.ts';
import { isPinnedSearchPath, searchPathParameter, searchPathSchemas } from './search-path.ts';
import { testRewriter } from '@clarus/testing/rewriter.ts';
import { searchPathBind } from '../access/search-path-bind.ts';

beforeAll(loadParser);

describe('search_path values', () => {
  it.each([
    ['"$user", public', true], ['"$user",public', true], ['  "$user" ,  PUBLIC ', true], ['"public","$user", public', true],
    ['public, "$user"', true], ['public', false], ['"$user"', false], ['evil, public', false], ['"$user", public, evil', false],
    ['"Public", "$user"', false], ['$user, public', true], ['', false], ['"unterminated, public', false],
  ])('%s → pinned: %s', (value, pinned) => {
    expect(isPinnedSearchPath(searchPathSchemas(value))).toBe(pinned);
  });
});

describe('SET search_path and set_config through the rewriter', () => {
  const rw = () => testRewriter();
  it.each([
    ['SET search_path = "$user", public', 'pass'], ['SET search_path TO public, "$user"', 'pass'], ['SET SESSION search_path = "$user", public, public', 'pass'],
    ["SELECT set_config('search_path', '\"$user\", public', false)", 'pass'], ["SELECT pg_catalog.set_config('search_path', '\"public\",\"$user\", public', true)", 'pass'],
    ['SET search_path = evil, public', 'refuse'], ["SET search_path = '\"$user\", public'", 'refuse'], ['SET search_path = public', 'refuse'],
    ["SELECT set_config('search_path', 'evil, public', false)", 'refuse'], ["SELECT set_config('search_path', $1, false)", 'refuse'],
  ])('%s → %s', (sql, kind) => {
    expect(rw().analyze(sql).kind).toBe(kind);
  });
});

describe("Flyway's parameterized set_config", () => {
  it('is recognized only in its exact shape', () => {
    const p = (sql: string) => searchPathParameter(parseStatements(sql)[0]?.stmt ?? {});
    expect(p("SELECT set_config('search_path', $1, false)")).toBe(1);
    expect(p("SELECT set_config('search_path', $1, $2)")).toBeNull();
    expect(p("SELECT set_config('search_path', $1, false) FROM patient")).toBeNull();
    expect(p("SELECT set_config('work_mem', $1, false)")).toBeNull();
    expect(p("SELECT set_config('search_path', $1, false), 1")).toBeNull();
  });
  it('checks the value at each Bind', () => {
    const d = searchPathBind("SELECT set_config('search_path', $1, false)");
    const bind = (v: string | null) => d?.params?.([v === null ? null : Buffer.from(v)], []);
    expect(bind('"public","$user", public')).toHaveLength(1);
    expect(() => bind('evil, public')).toThrow(/search_path is pinned/);
    expect(() => bind(null)).toThrow(/search_path is pinned/);
    expect(searchPathBind('SELECT 1')).toBeUndefined();
  });
});
