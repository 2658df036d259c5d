// Reload with a configuration whose statement pipeline cannot be built (a broken keyring file): the
// proxy keeps the previous configuration and pipeline, counts the failure and keeps serving open
// and new sessions with encryption intact; a repaired directory is then taken.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREATE_PATIENT, USERS, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import type { ProxyHandle } from '../../src/index.ts';
import { TEST_KEY_FILES } from '@clarus/testing/rewriter.ts';

let cluster: PgCluster;
let env: ProtectedEnv;
const clients: pg.Client[] = [];

async function doctor(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
  clients.push(c);
  return c;
}

async function metric(name: string): Promise<string[]> {
  const text = await (await fetch(`http://127.0.0.1:${env.proxy.metricsPort}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name));
}

/** startProtected runs the proxy in-process (startProxyInProcess), whose result carries the handle. */
function handleOf(p: object): ProxyHandle {
  if (!('handle' in p)) throw new Error('proxy is not in-process');
  return p.handle as ProxyHandle;
}

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
});
afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await env?.close();
  await cluster?.destroy();
});

describe('reload with a pipeline that cannot start', () => {
  it('keeps the previous configuration and pipeline, counts the failure, then takes the repaired one', async () => {
    const handle = handleOf(env.proxy);
    const open = await doctor();
    await open.query(CREATE_PATIENT);
    await open.query("INSERT INTO patient (pat_id, pat_name) VALUES (1, 'Reload Canaryone')");

    const keyFile = join(env.configDir, 'secrets/keyring/default.v1');
    writeFileSync(keyFile, 'not a 256-bit key');
    expect(handle.reload()).toBe(false);
    expect(await metric('clarus_config_reloads_total{result="error"}')).toEqual(['clarus_config_reloads_total{result="error"} 1']);
    expect(await metric('clarus_config_generation ')).toEqual(['clarus_config_generation 1']);

    // The open session and a new one still encrypt and decrypt with the previous pipeline.
    await open.query("INSERT INTO patient (pat_id, pat_name) VALUES (2, 'Reload Canarytwo')");
    const fresh = await doctor();
    await fresh.query("INSERT INTO patient (pat_id, pat_name) VALUES (3, 'Reload Canarythree')");
    expect((await fresh.query('SELECT pat_name FROM patient ORDER BY pat_id')).rows.map((r) => r.pat_name))
      .toEqual(['Reload Canaryone', 'Reload Canarytwo', 'Reload Canarythree']);
    expect(await canariesInTable(env.backend, 'patient', ['Reload Canaryone', 'Reload Canarytwo', 'Reload Canarythree'])).toEqual([]);
    expect((await env.backend.query('SELECT count(*)::int AS n FROM patient')).rows).toEqual([{ n: 3 }]);

    writeFileSync(keyFile, TEST_KEY_FILES.get('default.v1') as string);
    expect(handle.reload()).toBe(true);
    expect(await metric('clarus_config_generation ')).toEqual(['clarus_config_generation 2']);
    expect((await open.query('SELECT pat_name FROM patient WHERE pat_id = 2')).rows).toEqual([{ pat_name: 'Reload Canarytwo' }]);
    expect((await (await doctor()).query('SELECT pat_name FROM patient WHERE pat_id = 3')).rows).toEqual([{ pat_name: 'Reload Canarythree' }]);
  });
});
