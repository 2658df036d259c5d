// Cancel requests across replicas: two proxy processes of one ClarusProxy (distinct replica ids,
// the same configuration) on one PostgreSQL. A client's session runs on replica A; its cancel
// request reaches replica B, which passes it to its peers; A checks the key and cancels. Also: a
// peer request with a wrong signature, a replayed one and a wrong key cancel nothing.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { replicaIdFor } from '../../src/io/cancel.ts';
import { MAC_HEADER, PEER_CANCEL_PATH, signCancel } from '../../src/io/peer-cancel.ts';
import { encodeStartup } from '../../src/protocol/startup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import type { ProxyProcess } from '@clarus/testing/proxy.ts';
import { until } from '@clarus/testing/wait.ts';

let cluster: PgCluster;
let a: ProxyProcess;
let b: ProxyProcess;
let cfg: ReturnType<typeof writeProxyConfig>;
const secret = randomBytes(32);
const PEER_A = '127.0.0.2';
const PEER_B = '127.0.0.3';
let peerPort = 0;

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

function sendCancel(port: number, processId: number, secretKey: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1', () => s.end(encodeStartup({ type: 'CancelRequest', processId, secretKey })));
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

async function sleeping(c: pg.Client, seconds: number): Promise<{ running: Promise<unknown>; sql: string }> {
  const sql = `select pg_sleep(${seconds}) as slept`;
  const running = c.query(sql).then(() => 'finished', (e: { code?: string }) => e.code);
  const active = `select count(*) from pg_stat_activity where state = 'active' and query = '${sql}'`;
  await until(`the backend to run ${sql}`, async () => (await cluster.psql(active)) === '1\n', 20_000, 50);
  return { running, sql };
}

beforeAll(async () => {
  cluster = await startPostgres();
  cfg = writeProxyConfig({ backends: [{ cluster }] });
  const secretFile = join(cfg.dir, 'peer-secret');
  writeFileSync(secretFile, secret);
  peerPort = await freePort();
  // Two pod names whose replica ids differ (10-bit hashes).
  const names = ['proxy-a', 'proxy-b'];
  expect(replicaIdFor(`${names[0]}/default/test-proxy`)).not.toBe(replicaIdFor(`${names[1]}/default/test-proxy`));
  const peerArgs = (self: string) => ['--metrics-listen', `${self}:${peerPort}`, '--peers', `${PEER_A},${PEER_B}`, '--peer-port', String(peerPort), '--peer-secret-file', secretFile];
  a = await startProxyProcess(cfg.dir, peerArgs(PEER_A), { POD_NAME: names[0] });
  b = await startProxyProcess(cfg.dir, peerArgs(PEER_B), { POD_NAME: names[1] });
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  cfg?.destroy();
  await cluster?.destroy();
});

describe('cancel requests across replicas', () => {
  it('a cancel that reaches replica B cancels the query of a session on replica A (57014)', async () => {
    const c = new pg.Client({ connectionString: a.url() });
    c.on('error', () => undefined);
    await c.connect();
    const key = c as unknown as { processID: number; secretKey: number };
    const { running } = await sleeping(c, 20);
    await sendCancel(b.port, key.processID, key.secretKey);
    expect(await running).toBe('57014');
    // The session goes on after the cancel.
    expect((await c.query('select 1 as n')).rows).toEqual([{ n: 1 }]);
    await c.end();
    const metricsB = await (await fetch(`http://${PEER_B}:${peerPort}/metrics`)).text();
    const metricsA = await (await fetch(`http://${PEER_A}:${peerPort}/metrics`)).text();
    expect(metricsB).toMatch(/clarus_cancel_requests_total\{result="other-replica"\} 1/);
    expect(metricsA).toMatch(/clarus_cancel_requests_total\{result="peer-found"\} 1/);
  });

  it('a peer request with a wrong signature, a replayed one or a wrong secret key cancels nothing', async () => {
    const c = new pg.Client({ connectionString: a.url() });
    c.on('error', () => undefined);
    await c.connect();
    const key = c as unknown as { processID: number; secretKey: number };
    const { running } = await sleeping(c, 2);
    const post = (body: string, mac: string) => fetch(`http://${PEER_A}:${peerPort}${PEER_CANCEL_PATH}`, { method: 'POST', body, headers: { [MAC_HEADER]: mac } }).then((r) => r.status);
    const forged = signCancel(randomBytes(32), { processId: key.processID, secretKey: key.secretKey }, Date.now());
    expect(await post(forged.body, forged.mac)).toBe(401);
    const old = signCancel(secret, { processId: key.processID, secretKey: key.secretKey }, Date.now() - 120_000);
    expect(await post(old.body, old.mac)).toBe(401);
    const wrongKey = signCancel(secret, { processId: key.processID, secretKey: key.secretKey ^ 1 }, Date.now());
    expect(await post(wrongKey.body, wrongKey.mac)).toBe(404);
    expect(await post(wrongKey.body, wrongKey.mac)).toBe(401); // the same nonce again: a replay
    expect(await running).toBe('finished');
    await c.end();
  });
});
