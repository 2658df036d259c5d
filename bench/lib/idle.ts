// Holds N idle client sessions open through an endpoint (node-postgres, real SCRAM logins), to
// measure what idle connections cost a pooler or proxy in memory.
import pg from 'pg';
import type { Endpoint } from '@clarus/testing/endpoint.ts';

export async function openIdle(e: Endpoint, n: number): Promise<{ close(): Promise<void> }> {
  const clients: pg.Client[] = [];
  const close = async () => { await Promise.all(clients.map((c) => c.end().catch(() => undefined))); };
  try {
    for (let i = 0; i < n; i += 20) {
      const batch = Array.from({ length: Math.min(20, n - i) }, () => new pg.Client({
        host: e.host, port: e.port, user: e.user, password: e.password, database: e.database, ssl: false,
      }));
      clients.push(...batch);
      await Promise.all(batch.map(async (c) => { await c.connect(); await c.query('SELECT 1'); }));
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { close };
}
