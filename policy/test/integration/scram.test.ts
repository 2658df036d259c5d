// The verifiers render() writes are real SCRAM-SHA-256 verifiers: PostgreSQL accepts one as a
// role's stored password, and a client logging in with the plaintext password succeeds.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres, type PgCluster } from '@clarus/testing/pg.ts';
import { deterministicSalt, scramVerifier } from '../../src/runtime/scram.ts';

let cluster: PgCluster;

beforeAll(async () => {
  cluster = await startPostgres();
});
afterAll(async () => {
  await cluster?.destroy();
});

async function login(user: string, password: string): Promise<string> {
  const client = new pg.Client({ connectionString: cluster.url({ user, password, database: 'postgres' }) });
  await client.connect();
  try {
    const r = await client.query<{ u: string }>('SELECT current_user AS u');
    return r.rows[0]?.u ?? '';
  } finally {
    await client.end();
  }
}

describe('SCRAM verifiers from render', () => {
  it('PostgreSQL stores the verifier as is and authenticates the password against it', async () => {
    const salt = deterministicSalt(Buffer.alloc(32, 7), 'hospital/drhouse', 'S3cret-ü');
    const verifier = scramVerifier('S3cret-ü', salt);
    await cluster.psql(`CREATE ROLE drhouse LOGIN PASSWORD '${verifier}'`);
    expect((await cluster.psql("SELECT rolpassword FROM pg_authid WHERE rolname = 'drhouse'")).trim()).toBe(verifier);
    expect(await login('drhouse', 'S3cret-ü')).toBe('drhouse');
    await expect(login('drhouse', 'wrong')).rejects.toThrow(/password authentication failed/);
  });
});
