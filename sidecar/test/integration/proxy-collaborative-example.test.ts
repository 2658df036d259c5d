// examples/collaborative as rendered by `clarus policy render`, run for real: org A's proxy applies
// A's own policy (age generalized, participant pseudonymized) and forwards to org B's proxy over mTLS as CN=a-proxy,O=Org A; B applies B's policy
// (result encrypted deterministically) under A's externalProxy grant into a real PostgreSQL.
// Only what a test cannot have is replaced: host names, ports, PostgreSQL credentials and the
// placeholder certificates of the example's TLS Secrets.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RuntimeConfig } from '@clarus/policy/runtime/config.ts';
import { render } from '@clarus/policy/runtime/render.ts';
import { proxiesOf, selectForProxy } from '@clarus/policy/runtime/select.ts';
import { writeRuntimeDir } from '@clarus/cli/io/write.ts';
import { validateManifests } from '@clarus/policy/validate/index.ts';
import { loadManifests } from '@clarus/cli/io/load.ts';
import { protectionPipeline } from '../../src/access/setup.ts';
import { canariesInDump, canariesInTable } from '../corpus/setup.ts';
import { testPki } from '@clarus/testing/certs.ts';
import { startPostgres, SUPERUSER, SUPERUSER_PASSWORD } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess } from '@clarus/testing/proxy.ts';
import type { RunningProxy } from '@clarus/testing/proxy.ts';

const EXAMPLE = join(import.meta.dirname, '../../../examples/collaborative');
const RESEARCHER = { name: 'researcher', password: 'example-researcher-password' };
const CANARIES = ['canary-result-positive', 'canary-result-negative'];

let cluster: PgCluster;
let backend: pg.Client;
let tmp: string;
const proxies: RunningProxy[] = [];
let a: RunningProxy;

/** Renders one proxy of the example into DIR; returns a patcher for config.json and secret files. */
async function renderExample(name: string, dir: string): Promise<{ config: RuntimeConfig; put(rel: string, text: string): void; save(): void }> {
  const { set } = validateManifests((await loadManifests([EXAMPLE])).docs);
  const proxy = proxiesOf(set).find((p) => p.metadata.name === name);
  if (!proxy) throw new Error(`no proxy ${name} in the example`);
  const input = selectForProxy(set, proxy);
  if ('resource' in input) throw new Error(input.message);
  await writeRuntimeDir(render(input), dir);
  const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')) as RuntimeConfig;
  return { config, put: (rel, text) => writeFileSync(join(dir, rel), text), save: () => writeFileSync(join(dir, 'config.json'), JSON.stringify(config)) };
}

async function startRendered(dir: string): Promise<RunningProxy> {
  const p = await startProxyInProcess(dir, { pipeline: await protectionPipeline({ configDir: dir }), watch: false });
  proxies.push(p);
  return p;
}

async function researcher(): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: a.url(RESEARCHER), ssl: { ca: testPki().ca.certPem } });
  await c.connect();
  return c;
}

beforeAll(async () => {
  cluster = await startPostgres();
  backend = new pg.Client({ connectionString: cluster.url(), ssl: { ca: cluster.caPem } });
  await backend.connect();
  tmp = mkdtempSync(join(tmpdir(), 'clarus-collab-'));
  const pki = testPki();

  const b = await renderExample('b-proxy', join(tmp, 'b'));
  const cloud = b.config.backends[0];
  if (!cloud?.tls.caFile || !b.config.tls?.clientCaFile) throw new Error('the example changed: b-proxy has no verified backend or no client CA');
  Object.assign(cloud, { host: '127.0.0.1', port: cluster.port, database: 'postgres' });
  b.put(cloud.usernameFile, SUPERUSER);
  b.put(cloud.passwordFile, SUPERUSER_PASSWORD);
  b.put(cloud.tls.caFile, cluster.caPem);
  b.put(b.config.tls.certFile, pki.server.certPem);
  b.put(b.config.tls.keyFile, pki.server.keyPem);
  b.put(b.config.tls.clientCaFile, pki.ca.certPem);
  b.save();
  const bProxy = await startRendered(join(tmp, 'b'));

  const ra = await renderExample('a-proxy', join(tmp, 'a'));
  const up = ra.config.upstream;
  if (!up?.tls || !ra.config.tls) throw new Error('the example changed: a-proxy has no upstream TLS or no TLS');
  Object.assign(up, { host: '127.0.0.1', port: bProxy.port });
  const cert = pki.client('a-proxy', 'Org A');
  ra.put(up.tls.certFile, cert.certPem);
  ra.put(up.tls.keyFile, cert.keyPem);
  ra.put(up.tls.caFile, pki.ca.certPem);
  ra.put(ra.config.tls.certFile, pki.server.certPem);
  ra.put(ra.config.tls.keyFile, pki.server.keyPem);
  ra.save();
  a = await startRendered(join(tmp, 'a'));
});
afterAll(async () => {
  await backend?.end().catch(() => undefined);
  for (const p of proxies) await p.close();
  if (tmp) rmSync(tmp, { recursive: true, force: true });
  await cluster?.destroy();
});

describe('examples/collaborative end to end', () => {
  it('A generalizes age, B encrypts result, the researcher reads back through both proxies', async () => {
    const c = await researcher();
    try {
      await c.query('CREATE TABLE study (id integer PRIMARY KEY, participant text, age integer, result text)');
      await c.query("INSERT INTO study (id, age, result) VALUES (1, 37, 'canary-result-positive')");
      await c.query('INSERT INTO study (id, age, result) VALUES ($1, $2, $3)', [2, 52, 'canary-result-negative']);
      expect((await c.query('SELECT id, age, result FROM study ORDER BY id')).rows).toEqual([
        { id: 1, age: 35, result: 'canary-result-positive' }, { id: 2, age: 50, result: 'canary-result-negative' }]);
      expect((await c.query("SELECT id FROM study WHERE result = 'canary-result-negative'")).rows).toEqual([{ id: 2 }]);
    } finally {
      await c.end();
    }
    // PostgreSQL (B's cloud) holds A's generalized ages and B's ciphertext, never the results in clear.
    const stored = await backend.query('SELECT id, age, result FROM study ORDER BY id');
    expect(stored.rows.map((r) => [r.id, r.age, Buffer.isBuffer(r.result)])).toEqual([[1, 35, true], [2, 50, true]]);
    expect(await canariesInTable(backend, 'study', CANARIES)).toEqual([]);
    expect(await canariesInDump(cluster, CANARIES)).toEqual([]);
  });

  it('A pseudonymizes a participant before it leaves: B and PostgreSQL only see the pseudonym', async () => {
    const c = await researcher();
    try {
      await c.query("INSERT INTO study (id, participant) VALUES (3, 'canary-participant')");
    } finally {
      await c.end();
    }
    const stored = await backend.query('SELECT participant FROM study WHERE id = 3');
    // The example's format is uuid.
    expect(stored.rows[0]?.participant).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(await canariesInDump(cluster, ['canary-participant'])).toEqual([]);
  });
});
