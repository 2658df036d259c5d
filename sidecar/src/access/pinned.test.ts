// Pinned session settings: what the backend session starts with, and which client requests are refused.
import { describe, expect, it } from 'vitest';
import { decideStatement } from './grants.ts';
import { unsafeParameterStatus } from '../session/settings.ts';
import { backendStartupParams, PINNED_STARTUP } from './pinned.ts';

describe('backendStartupParams', () => {
  it('passes everything through when no policy protects data', () => {
    expect(backendStartupParams({ options: '-c search_path=evil', client_encoding: 'SJIS' }, false)).toEqual({ ok: true, params: { options: '-c search_path=evil', client_encoding: 'SJIS' } });
  });
  it('pins client_encoding, standard_conforming_strings and search_path, keeping harmless parameters', () => {
    const d = backendStartupParams({ application_name: 'app', DateStyle: 'ISO', client_encoding: 'SQL_ASCII', TimeZone: 'UTC' }, true);
    expect(d).toEqual({ ok: true, params: { application_name: 'app', DateStyle: 'ISO', TimeZone: 'UTC', ...PINNED_STARTUP } });
  });
  it.each([
    [{ client_encoding: 'SJIS' }, /client_encoding SJIS is not supported/],
    [{ client_encoding: 'BIG5' }, /client_encoding BIG5/],
    [{ standard_conforming_strings: 'off' }, /standard_conforming_strings is pinned/],
    [{ search_path: 'evil, public' }, /search_path is pinned/],
    [{ options: '-c standard_conforming_strings=off' }, /startup option standard_conforming_strings/],
    [{ options: '--search-path=evil' }, /startup option search_path/],
    [{ options: '-c search\\_path=evil' }, /startup option search_path/],
    [{ options: '-c role=postgres' }, /startup option role/],
    [{ session_authorization: 'postgres' }, /session_authorization cannot be set/],
  ])('refuses %j', (params, message) => {
    const d = backendStartupParams(params as Record<string, string>, true);
    expect(d.ok).toBe(false);
    if (!d.ok) expect(d.message).toMatch(message);
  });
  it('accepts the pinned values themselves (a partner proxy receives them from ours)', () => {
    expect(backendStartupParams({ ...PINNED_STARTUP, options: '-c statement_timeout=5s' }, true).ok).toBe(true);
  });
});

describe('unsafeParameterStatus', () => {
  it("reads encoding names as PostgreSQL does (asyncpg sends client_encoding 'utf-8', quotes included)", () => {
    for (const e of ["'utf-8'", 'UTF_8', 'Unicode', 'sql-ascii']) expect(backendStartupParams({ client_encoding: e }, true)).toMatchObject({ ok: true });
    expect(backendStartupParams({ client_encoding: "'sjis'" }, true)).toMatchObject({ ok: false });
  });

  it('flags a backend that switched encoding or string lexing', () => {
    expect(unsafeParameterStatus('client_encoding', 'SJIS')).toMatch(/SJIS/);
    expect(unsafeParameterStatus('standard_conforming_strings', 'off')).toMatch(/off/);
    expect(unsafeParameterStatus('client_encoding', 'UTF8')).toBeNull();
    expect(unsafeParameterStatus('DateStyle', 'German')).toBeNull();
  });
});

describe('decideStatement', () => {
  const now = new Date('2026-12-01T00:00:00Z');
  const read = [{ grant: 'g1', datasets: ['patients'], access: 'read' as const, view: 'masked' as const }];
  const rw = [{ grant: 'g2', datasets: ['visits'], access: 'readWrite' as const, view: 'plaintext' as const }];
  it('lets users without a valid readWrite grant read only, whatever the statement names', () => {
    expect(decideStatement({ user: 'u', grants: read }, [], true, now)).toMatchObject({ ok: false, code: '42501', message: /may only read/ });
    expect(decideStatement({ user: 'u', grants: [] }, [], true, now)).toMatchObject({ ok: false, code: '42501' });
    expect(decideStatement({ user: 'u', grants: [{ ...rw[0], expires: '2026-11-30T00:00:00Z' }] as never }, [], true, now)).toMatchObject({ ok: false });
    expect(decideStatement({ user: 'u', grants: read }, [], false, now)).toMatchObject({ ok: true });
  });
  it('applies the per-dataset rules to read-write users', () => {
    expect(decideStatement({ user: 'u', grants: rw }, [], true, now)).toMatchObject({ ok: true });
    expect(decideStatement({ user: 'u', grants: rw }, ['patients'], true, now)).toMatchObject({ ok: false, code: '42501' });
    expect(decideStatement({ user: 'u', grants: [...rw, ...read] }, ['patients', 'visits'], true, now)).toMatchObject({ ok: false, message: /read-only access/ });
  });
});
