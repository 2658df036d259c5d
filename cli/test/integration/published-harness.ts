// What the published-policy integration tests share: `clarus policy import` as a user runs it →
// validate → render → the proxy in process, in front of a real PostgreSQL; and the scans of what
// the backend holds (pg_dump, the server log with log_statement = all).
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { expect } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { render } from '@clarus/policy/runtime/render.ts';
import { proxiesOf, selectForProxy } from '@clarus/policy/runtime/select.ts';
import { validateManifests } from '@clarus/policy/validate/index.ts';
import { protectionPipeline } from '@clarus/sidecar/access/setup.ts';
import { PG_BIN, SUPERUSER, SUPERUSER_PASSWORD, type PgCluster } from '@clarus/testing/pg.ts';
import { startProxyInProcess, writeProxyConfig, type RunningProxy } from '@clarus/testing/proxy.ts';
import { main } from '../../src/policy.ts';

const run = promisify(execFile);
export const DATA = join(REPO_ROOT, '..', 'shared', 'data', 'clarus');
export const POLICIES = join(DATA, 'policies');
const APP = { name: 'app', password: 'app-pw', grants: [{ grant: 'g', datasets: ['*'], access: 'readWrite' as const, view: 'plaintext' as const }] };
const KEY = Buffer.alloc(32, 0x3c).toString('base64');

/** `clarus policy import FILE (a published sample's name, or a path) --name imported --namespace ns ARGS…`: the YAML; the import must succeed. */
export async function importPolicy(file: string, ...args: string[]): Promise<string> {
  let out = '';
  let err = '';
  const code = await main(['import', resolve(POLICIES, file), '--name', 'imported', '--namespace', 'ns', ...args], { out: (s) => { out += s; }, err: (s) => { err += s; } });
  expect(err).not.toMatch(/^refused: /m);
  expect(code).toBe(0);
  return out;
}

/** The import's manifests + a proxy and its Secrets → validate → render → the proxy's policy. */
export function renderPolicy(yaml: string): { policy: RuntimePolicy; keyFiles: Map<string, string> } {
  const docs = parseAllDocuments(yaml).map((d) => d.toJS() as Record<string, unknown>);
  const secret = (name: string, stringData: Record<string, string>): Record<string, unknown> => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns' }, stringData });
  const keys = Object.fromEntries(['default', '176', 'enckey'].map((k) => [`${k}.v1`, KEY]));
  const extra = [
    { apiVersion: 'clarus.io/v1alpha1', kind: 'ClarusProxy', metadata: { name: 'proxy', namespace: 'ns' }, spec: { policyRef: { name: 'imported' } } },
    secret('imported-keys', keys), secret('csp1-creds', { username: 'u', password: 'p' }), secret('csp1-readonly-creds', { username: 'r', password: 'p' }), secret('csp1-ca', { 'ca.crt': 'x' }),
  ];
  const v = validateManifests([...docs, ...extra].map((doc) => ({ doc, source: 'import' })));
  expect(v.issues.filter((i) => i.severity === 'error')).toEqual([]);
  const [proxy] = proxiesOf(v.set);
  const input = selectForProxy(v.set, proxy as NonNullable<typeof proxy>);
  if ('resource' in input) throw new Error(input.message);
  return { policy: render(input).config.policy, keyFiles: new Map(Object.entries(keys)) };
}

export interface Env { proxy: RunningProxy; client: pg.Client; url: string; close(): Promise<void> }

/** The proxy with this policy in front of the cluster, and a connected application client. */
export async function startWith(cluster: PgCluster, policy: RuntimePolicy, keyFiles: Map<string, string>): Promise<Env> {
  const cfg = writeProxyConfig({ backends: [{ cluster, name: policy.defaultBackend }], users: [APP] });
  cfg.write({ ...cfg.config, policy });
  mkdirSync(join(cfg.dir, policy.keyring.dir), { recursive: true });
  for (const [name, text] of keyFiles) writeFileSync(join(cfg.dir, policy.keyring.dir, name), text);
  const pipeline = await protectionPipeline({ configDir: cfg.dir });
  const proxy = await startProxyInProcess(cfg.dir, { pipeline, watch: false });
  const url = proxy.url(APP);
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return { proxy, client, url, close: async () => { await client.end(); await proxy.close(); cfg.destroy(); } };
}

/** pg_dump of the cluster's postgres database, as text. */
export async function dumpOf(cluster: PgCluster): Promise<string> {
  const { stdout } = await run(join(PG_BIN, 'pg_dump'), ['-h', cluster.host, '-p', String(cluster.port), '-U', SUPERUSER, 'postgres'], { env: { ...process.env, PGPASSWORD: SUPERUSER_PASSWORD }, maxBuffer: 256 << 20 });
  expect(stdout).toContain('PostgreSQL database dump');
  return stdout;
}

/** The server log written since byte `from`. */
export function logSince(cluster: PgCluster, from: number): string {
  return readFileSync(join(cluster.dir, 'server.log')).subarray(from).toString('latin1');
}

export function logSize(cluster: PgCluster): number {
  return readFileSync(join(cluster.dir, 'server.log')).length;
}
