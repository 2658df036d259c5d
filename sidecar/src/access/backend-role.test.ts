import { describe, expect, it } from 'vitest';
import type { BackendSecrets } from '../config/load.ts';
import { roleCredentials, sessionRole } from './backend-role.ts';
import type { Grants } from './grants.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const grant = (access: 'read' | 'readWrite', expires?: string): Grants[number] =>
  ({ grant: `g-${access}`, datasets: ['*'], access, view: 'plaintext', ...(expires ? { expires } : {}) });

describe('sessionRole', () => {
  it.each([
    ['no grants at all', [], 'read'],
    ['read grants only', [grant('read'), grant('read')], 'read'],
    ['one readWrite grant among read grants', [grant('read'), grant('readWrite')], 'readWrite'],
    ['a readWrite grant that has expired', [grant('read'), grant('readWrite', '2026-01-01T00:00:00Z')], 'read'],
    ['a readWrite grant expiring exactly now', [grant('readWrite', '2026-06-01T00:00:00Z')], 'read'],
    ['a readWrite grant that has not expired yet', [grant('readWrite', '2027-01-01T00:00:00Z')], 'readWrite'],
  ] as const)('%s -> %s', (_n, grants, want) => {
    expect(sessionRole([...grants], NOW)).toBe(want);
  });
});

describe('roleCredentials', () => {
  const spec = { name: 'a', host: 'db', port: 5432, database: 'app', usernameFile: 'u', passwordFile: 'p', tls: { mode: 'disable' as const }, pool: { maxConnections: 5 } };
  const both: BackendSecrets = { spec, username: 'app_rw', password: 'rw-pw', readOnly: { username: 'app_ro', password: 'ro-pw' } };
  const rwOnly: BackendSecrets = { spec, username: 'app_rw', password: 'rw-pw' };

  it('logs a read session in with the read-only role, and never with the read-write password', () => {
    const b = roleCredentials(both, 'read');
    expect([b.username, b.password, b.spec.name]).toEqual(['app_ro', 'ro-pw', 'a']);
  });

  it('logs a readWrite session in with the read-write role', () => {
    expect(roleCredentials(both, 'readWrite')).toBe(both);
  });

  it('keeps the read-write role for every session of a backend without a read-only role', () => {
    expect(roleCredentials(rwOnly, 'read')).toBe(rwOnly);
  });
});
