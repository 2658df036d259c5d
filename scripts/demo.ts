// `make demo`: the main job on an embedded default. Starts two local PostgreSQL servers that play
// two cloud databases (the diagnosis is split off to the second one), writes a sample eHealth policy (resources as a user would kubectl-apply them),
// validates and renders it with the `clarus` CLI, runs `clarus proxy` on the rendered directory,
// and runs a short workload as three users. It prints what each application user sees next to
// what the cloud database actually stores.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startPostgres } from '@clarus/testing/pg.ts';
import { CLARUS_BIN, startProxyProcess } from '@clarus/testing/proxy.ts';

/** Sessions of users without a readWrite grant (analyst, auditor) log in as this SELECT-only role. */
const READONLY_ROLE = { user: 'demo_readonly', password: 'demo-readonly-pw' };
const READONLY_SQL = `CREATE ROLE ${READONLY_ROLE.user} LOGIN PASSWORD '${READONLY_ROLE.password}';
GRANT USAGE ON SCHEMA public TO ${READONLY_ROLE.user};
ALTER DEFAULT PRIVILEGES FOR ROLE scram_user IN SCHEMA public GRANT SELECT ON TABLES TO ${READONLY_ROLE.user};`;

const POLICY = (portA: number, portB: number) => `
apiVersion: clarus.io/v1alpha1
kind: SecurityPolicy
metadata: { name: ehealth, namespace: demo }
spec:
  backends: [cloud-a, cloud-b]
  keyring: { secretName: ehealth-keys }
  attributeTypes:
    identifier:      { encrypt: { mode: randomized } }
    confidential:    { encrypt: { mode: deterministic } }
  datasets:
    - name: patients
      table: public.patient
      rowKey: pat_id
      columns:
        - { name: pat_id,    attributeType: technicalIdentifier }
        - { name: pat_name,  attributeType: identifier }
        - { name: pat_ssn,   attributeType: identifier, protection: { encrypt: { mode: randomized, searchable: true } } }
        - { name: pat_zip,   attributeType: quasiIdentifier, protection: { anonymize: { generalize: { keepPrefix: 3 } } } }
        - { name: diagnosis, attributeType: confidential, protection: { split: { backend: cloud-b }, encrypt: { mode: deterministic } } }
---
${['cloud-a', 'cloud-b'].map((name, i) => `apiVersion: clarus.io/v1alpha1
kind: CloudBackend
metadata: { name: ${name}, namespace: demo }
spec:
  host: 127.0.0.1
  port: ${i === 0 ? portA : portB}
  database: postgres
  credentialsSecretRef: { name: ${name}-creds }
  readOnlyCredentialsSecretRef: { name: ${name}-readonly-creds }
  tls: { mode: disable }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-creds, namespace: demo }
stringData: { username: scram_user, password: scram-pw }
---
apiVersion: v1
kind: Secret
metadata: { name: ${name}-readonly-creds, namespace: demo }
stringData: { username: ${READONLY_ROLE.user}, password: ${READONLY_ROLE.password} }
---
`).join('')}apiVersion: clarus.io/v1alpha1
kind: ClarusProxy
metadata: { name: ehealth-proxy, namespace: demo }
spec:
  policyRef: { name: ehealth }
---
${['drhouse:readWrite:plaintext', 'analyst:read:masked', 'auditor:read:protected'].map((g) => {
    const [user, access, view] = g.split(':');
    return `apiVersion: clarus.io/v1alpha1
kind: AccessGrant
metadata: { name: ${user}-patients, namespace: demo }
spec:
  proxyRef: { name: ehealth-proxy }
  subject: { user: ${user}, passwordSecretRef: { name: ${user}-pw, key: password } }
  datasets: [patients]
  access: ${access}
  view: ${view}
---
apiVersion: v1
kind: Secret
metadata: { name: ${user}-pw, namespace: demo }
stringData: { password: ${user}-secret }
`;
  }).join('---\n')}`;

const ROWS = [
  [1, 'Alice Martin', '1-85-05-75-123-456', '75011', 'diabetes'],
  [2, 'Bruno Keller', '2-90-11-13-222-333', '13008', 'asthma'],
  [3, 'Chloé Dubois', '2-78-02-69-444-555', '69003', 'diabetes'],
];

function heading(s: string): void { process.stdout.write(`\n\x1b[1m== ${s}\x1b[0m\n`); }
function clarus(args: string[]): string { return execFileSync(CLARUS_BIN, args, { encoding: 'utf8' }); }

function table(rows: Array<Record<string, unknown>>, width = 34): void {
  if (rows.length === 0) { process.stdout.write('  (no rows)\n'); return; }
  const cols = Object.keys(rows[0] as object);
  const text = (v: unknown) => {
    const s = v === null ? 'NULL' : Buffer.isBuffer(v) ? `\\x${v.toString('hex')}` : String(v);
    return s.length > width ? `${s.slice(0, width - 1)}…` : s;
  };
  const cells = rows.map((r) => cols.map((c) => text(r[c])));
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (vals: string[]) => `  ${vals.map((v, i) => v.padEnd(widths[i] as number)).join(' | ')}\n`;
  process.stdout.write(line(cols));
  process.stdout.write(`  ${widths.map((w) => '-'.repeat(w)).join('-+-')}\n`);
  for (const row of cells) process.stdout.write(line(row));
}

async function as<T>(port: number, user: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password: `${user}-secret`, database: 'postgres' });
  await c.connect();
  try { return await fn(c); } finally { await c.end(); }
}

async function tryQuery(c: pg.Client, sql: string): Promise<void> {
  try {
    await c.query(sql);
    process.stdout.write(`  ${sql}\n    → accepted\n`);
  } catch (e) {
    const err = e as { code?: string; message: string };
    process.stdout.write(`  ${sql}\n    → refused: ${err.code} ${err.message}\n`);
  }
}

async function workload(port: number, cloudUrls: Record<string, string>): Promise<void> {
  heading('drhouse (readWrite, plaintext view) creates the table and writes patients through the proxy');
  await as(port, 'drhouse', async (c) => {
    await c.query('CREATE TABLE patient (pat_id int PRIMARY KEY, pat_name text, pat_ssn text, pat_zip text, diagnosis text)');
    for (const r of ROWS) await c.query('INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, diagnosis) VALUES ($1, $2, $3, $4, $5)', r);
    process.stdout.write('  SELECT * FROM patient ORDER BY pat_id\n');
    table((await c.query('SELECT * FROM patient ORDER BY pat_id')).rows);
    process.stdout.write("  SELECT pat_name FROM patient WHERE pat_ssn = '2-90-11-13-222-333'   (blind index)\n");
    table((await c.query("SELECT pat_name FROM patient WHERE pat_ssn = '2-90-11-13-222-333'")).rows);
    process.stdout.write('  SELECT diagnosis, count(*) FROM patient GROUP BY diagnosis   (deterministic)\n');
    table((await c.query('SELECT diagnosis, count(*)::int AS n FROM patient GROUP BY diagnosis ORDER BY n DESC')).rows);
    heading('computing on encrypted columns: the cloud filters what it can, the proxy finishes (two stages)');
    process.stdout.write("  SELECT upper(pat_name) AS name, diagnosis FROM patient WHERE pat_name LIKE '%r%' ORDER BY pat_name\n");
    table((await c.query("SELECT upper(pat_name) AS name, diagnosis FROM patient WHERE pat_name LIKE '%r%' ORDER BY pat_name")).rows);
    heading('a transaction over both clouds commits with two-phase commit');
    process.stdout.write("  BEGIN; UPDATE patient SET pat_zip = '75020', diagnosis = 'asthma' WHERE pat_id = 3; COMMIT\n");
    await c.query('BEGIN');
    await c.query("UPDATE patient SET pat_zip = '75020', diagnosis = 'asthma' WHERE pat_id = 3");
    await c.query('COMMIT');
    table((await c.query('SELECT pat_id, pat_zip, diagnosis FROM patient WHERE pat_id = 3')).rows);
    heading('statements the proxy cannot run safely are refused, not leaked');
    await tryQuery(c, 'UPDATE patient SET pat_name = upper(pat_name) RETURNING pat_name');
    await tryQuery(c, "SELECT set_config('search_path', 'shadow, public', false)");
  });
  heading(`analyst (read, masked view; the proxy logs read-only users in to the cloud as ${READONLY_ROLE.user})`);
  await as(port, 'analyst', async (c) => {
    table((await c.query('SELECT pat_id, pat_name, pat_ssn, diagnosis FROM patient ORDER BY pat_id')).rows);
    await tryQuery(c, "UPDATE patient SET diagnosis = 'flu' WHERE pat_id = 1");
    await tryQuery(c, 'CREATE TABLE scratch (note text)');
  });
  heading('auditor (read, protected view: the stored ciphertext, never decrypted)');
  await as(port, 'auditor', async (c) => table((await c.query('SELECT pat_id, pat_name, diagnosis FROM patient ORDER BY pat_id')).rows, 28));
  let texts = '';
  for (const [name, url] of Object.entries(cloudUrls)) {
    heading(`what cloud database ${name} stores (a direct connection, bypassing the proxy)`);
    const cloud = new pg.Client({ connectionString: url });
    await cloud.connect();
    const stored = await cloud.query('SELECT * FROM patient ORDER BY pat_id');
    table(stored.rows, 28);
    texts += JSON.stringify(stored.rows.map((r) => Object.values(r).map((v) => (Buffer.isBuffer(v) ? v.toString('latin1') : String(v)))));
    await cloud.end();
  }
  const leaked = ROWS.flatMap((r) => [r[1], r[2], r[4]]).filter((v) => texts.includes(String(v)));
  process.stdout.write(`\n  each cloud holds the row key and its own columns only (the diagnosis lives on cloud-b alone);\n  plaintext names, SSNs or diagnoses found in either cloud: ${leaked.length === 0 ? 'none' : leaked.join(', ')}\n`);
  if (leaked.length > 0) process.exitCode = 1;
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'clarus-demo-'));
  heading('starting two local PostgreSQL 15 servers playing the cloud databases "cloud-a" and "cloud-b"');
  const [cloudA, cloudB] = [await startPostgres(), await startPostgres()];
  let proxy: Awaited<ReturnType<typeof startProxyProcess>> | undefined;
  try {
    process.stdout.write(`  cloud-a on 127.0.0.1:${cloudA.port}, cloud-b on 127.0.0.1:${cloudB.port} (max_prepared_transactions on: two-phase commit)\n`);
    for (const c of [cloudA, cloudB]) await c.psql(READONLY_SQL);
    writeFileSync(join(work, 'resources.yaml'), POLICY(cloudA.port, cloudB.port));
    writeFileSync(join(work, 'keyring.yaml'), clarus(['keys', 'generate', '--name', 'ehealth-keys', '--namespace', 'demo']));
    heading('clarus policy validate / explain / render');
    process.stdout.write(clarus(['policy', 'validate', '-f', work]));
    process.stdout.write(clarus(['policy', 'explain', '-f', work]));
    clarus(['policy', 'render', '-f', work, '--out', join(work, 'rendered')]);
    process.stdout.write(`  rendered runtime configuration: ${join(work, 'rendered')} (config.json ${readFileSync(join(work, 'rendered', 'config.json')).length} bytes + secrets/)\n`);
    process.stdout.write(clarus(['policy', 'explain', '-f', work, '--sql', "SELECT upper(pat_name) FROM patient WHERE pat_ssn = '2-90-11-13-222-333'"]));
    // The in-proxy stage is on in `clarus proxy` (the test harness turns it off unless asked).
    proxy = await startProxyProcess(join(work, 'rendered'), [], { CLARUS_RESIDUAL: 'on' });
    process.stdout.write(`  clarus proxy listening on ${proxy.host}:${proxy.port}\n`);
    await workload(proxy.port, { 'cloud-a': cloudA.url(), 'cloud-b': cloudB.url() });
  } finally {
    await proxy?.close();
    await cloudA.destroy();
    await cloudB.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
