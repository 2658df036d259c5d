import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { AUTH_USERS, freePort, listenOn, startPostgres, type PgCluster } from '@clarus/testing/pg.ts';

describe('test harness: real PostgreSQL', () => {
  let a: PgCluster;
  let b: PgCluster;
  beforeAll(async () => { [a, b] = await Promise.all([startPostgres(), startPostgres()]); });
  afterAll(async () => { await Promise.all([a?.destroy(), b?.destroy()]); });

  it('runs two independent clusters with SCRAM over TLS', async () => {
    expect(a.port).not.toBe(b.port);
    const client = new pg.Client({ connectionString: a.url(), ssl: { ca: a.caPem } });
    await client.connect();
    const r = await client.query<{ ssl: boolean; mpt: string }>("SELECT ssl, current_setting('max_prepared_transactions') AS mpt FROM pg_stat_ssl WHERE pid = pg_backend_pid()");
    await client.end();
    expect(r.rows[0]).toEqual({ ssl: true, mpt: '20' });
    expect(await b.psql('SELECT 1+1')).toBe('2\n');
  });

  it('starts on another port when its port is taken between the check and the bind', async () => {
    const port = await freePort();
    const taken = await listenOn(port);
    try {
      const c = await startPostgres({ firstPort: port });
      try {
        expect(c.port).not.toBe(port);
        expect(await c.psql("SELECT current_setting('port')")).toBe(`${c.port}\n`);
        const client = new pg.Client({ connectionString: c.url() });
        await client.connect();
        expect((await client.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
        await client.end();
      } finally { await c.destroy(); }
    } finally { taken.close(); }
  });

  it('rejects a wrong password', async () => {
    const client = new pg.Client({ connectionString: a.url({ password: 'wrong' }) });
    await expect(client.connect()).rejects.toThrow(/password authentication failed/);
  });

  it('offers md5 and cleartext password users', async () => {
    for (const u of [AUTH_USERS.md5, AUTH_USERS.password]) {
      const client = new pg.Client({ connectionString: a.url(u) });
      await client.connect();
      expect((await client.query('SELECT current_user AS u')).rows[0].u).toBe(u.user);
      await client.end();
    }
  });
});
