// render(): layout, effective protections, secret keys, stable hash, verifiers a SCRAM check accepts.
import { createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import type { SecretManifest } from '@clarus/crds/types.ts';
import { validateManifests } from '../validate/index.ts';
import { loadManifests } from '@clarus/cli/io/load.ts';
import { render, RenderError, type RenderInput } from './render.ts';
import { proxiesOf, selectForProxy } from './select.ts';
import { writeRuntimeDir } from '@clarus/cli/io/write.ts';

async function inputOf(dir: string, proxy?: string): Promise<RenderInput> {
  const loaded = await loadManifests([join(REPO_ROOT, 'examples', dir)]);
  const { set } = validateManifests(loaded.docs);
  const p = proxiesOf(set).find((x) => !proxy || x.metadata.name === proxy);
  if (!p) throw new Error('no proxy');
  const input = selectForProxy(set, p);
  if ('resource' in input) throw new Error(input.message);
  return input;
}

function withSecret(input: RenderInput, name: string, change: (s: SecretManifest) => SecretManifest): RenderInput {
  return { ...input, secrets: input.secrets.map((s) => (s.metadata.name === name ? change(structuredClone(s)) : s)) };
}

/** RFC 5802 server-side proof check, written independently of scram.ts. */
function scramAccepts(verifier: string, password: string): boolean {
  const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$([^:]+):(.+)$/.exec(verifier);
  if (!m) return false;
  const [, iter, saltB64, storedB64, serverB64] = m;
  const salted = pbkdf2Sync(password, Buffer.from(saltB64 ?? '', 'base64'), Number(iter), 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const authMessage = 'n=,r=abc,r=abcdef,s=xyz,i=4096,c=biws,r=abcdef';
  const clientSignature = createHmac('sha256', Buffer.from(storedB64 ?? '', 'base64')).update(authMessage).digest();
  const proof = Buffer.from(clientKey.map((b, i) => b ^ (clientSignature[i] ?? 0)));
  // Server: recover ClientKey from the proof, hash it, compare with StoredKey.
  const recovered = Buffer.from(proof.map((b, i) => b ^ (clientSignature[i] ?? 0)));
  const storedOk = timingSafeEqual(createHash('sha256').update(recovered).digest(), Buffer.from(storedB64 ?? '', 'base64'));
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return storedOk && timingSafeEqual(serverKey, Buffer.from(serverB64 ?? '', 'base64'));
}

describe('render', () => {
  it('resolves the eHealth policy with attribute-type defaults and placements', async () => {
    const { config } = render(await inputOf('ehealth'));
    const cols = Object.fromEntries(config.policy.datasets[0]?.columns.map((c) => [c.name, c]) ?? []);
    expect(config.policy.defaultBackend).toBe('cloud-a');
    expect(cols.pat_name).toEqual({ name: 'pat_name', attributeType: 'identifier', backend: 'cloud-a', encrypt: { mode: 'randomized', searchable: false, keyName: 'default' } });
    expect(cols.pat_ssn?.encrypt?.searchable).toBe(true);
    expect(cols.pat_zip?.anonymize).toEqual({ generalize: { keepPrefix: 3 } });
    expect(cols.diagnosis).toMatchObject({ backend: 'cloud-b', encrypt: { mode: 'deterministic', keyName: 'clinical' } });
    expect(cols.pat_id).toEqual({ name: 'pat_id', attributeType: 'technicalIdentifier', backend: 'cloud-a' });
    expect(config.policy.datasets[0]).toMatchObject({ schema: 'public', table: 'patient', rowKey: 'pat_id' });
    expect(config.backends.map((b) => [b.name, b.port, b.tls.mode, b.pool.maxConnections])).toEqual([['cloud-a', 5432, 'verify-full', 50], ['cloud-b', 5432, 'require', 20]]);
    expect(config.limits).toEqual({ maxConnections: 1000, maxMessageBytes: 67108864, connectTimeoutSeconds: 10, idleTimeoutSeconds: 0, drainSeconds: 30, maxStatementBytes: 1048576, analysisCacheBytes: 33554432,
      computeInProxy: true, computeMaxRows: 100000, computeMaxBytes: 33554432, computeIdleSeconds: 600 });
    expect(config.users.map((u) => [u.name, u.kind, u.grants.map((g) => `${g.access}/${g.view}`)])).toEqual([['analyst', 'user', ['read/masked']], ['drhouse', 'user', ['readWrite/plaintext']]]);
  });

  it('lays out secret files under secrets/ with flattened Secret keys, and no secret in config.json', async () => {
    const input = await inputOf('ehealth');
    const { config, files } = render(input);
    expect(files.map((f) => `${f.path} ${f.secretKey}`)).toEqual([
      'secrets/backends/cloud-a/ca.crt backends__cloud-a__ca.crt',
      'secrets/backends/cloud-a/password backends__cloud-a__password',
      'secrets/backends/cloud-a/readonly-password backends__cloud-a__readonly-password',
      'secrets/backends/cloud-a/readonly-username backends__cloud-a__readonly-username',
      'secrets/backends/cloud-a/username backends__cloud-a__username',
      'secrets/backends/cloud-b/password backends__cloud-b__password',
      'secrets/backends/cloud-b/readonly-password backends__cloud-b__readonly-password',
      'secrets/backends/cloud-b/readonly-username backends__cloud-b__readonly-username',
      'secrets/backends/cloud-b/username backends__cloud-b__username',
      'secrets/keyring/clinical.v1 keyring__clinical.v1',
      'secrets/keyring/default.v1 keyring__default.v1',
      'secrets/users/analyst.scram users__analyst.scram',
      'secrets/users/drhouse.scram users__drhouse.scram',
    ]);
    const json = JSON.stringify(config);
    for (const f of files) expect(json).not.toContain(f.content.trim());
    expect(files.find((f) => f.path.endsWith('cloud-a/password'))?.content).toBe('example-password-a');
    const referenced = [...config.backends.flatMap((b) => [b.usernameFile, b.passwordFile, b.readOnly?.usernameFile, b.readOnly?.passwordFile, b.tls.caFile]), ...config.users.map((u) => u.verifierFile)].filter(Boolean);
    for (const p of referenced) expect(files.map((f) => f.path)).toContain(p);
  });

  it('renders the read-only role next to the read-write one, and none when the backend names none', async () => {
    const input = await inputOf('ehealth');
    const { config, files } = render(input);
    expect(config.backends[0]?.readOnly).toEqual({ usernameFile: 'secrets/backends/cloud-a/readonly-username', passwordFile: 'secrets/backends/cloud-a/readonly-password' });
    const content = (path: string) => files.find((f) => f.path === path)?.content;
    expect(content('secrets/backends/cloud-a/readonly-username')).toBe('clarus_a_ro');
    expect(content('secrets/backends/cloud-a/readonly-password')).toBe('example-readonly-password-a');
    expect(content('secrets/backends/cloud-a/username')).toBe('clarus_a');
    const backends = structuredClone(input.backends);
    for (const b of backends) delete b.spec.readOnlyCredentialsSecretRef;
    const without = render({ ...input, backends });
    expect(without.config.backends.map((b) => b.readOnly)).toEqual([undefined, undefined]);
    expect(without.files.some((f) => f.path.includes('readonly'))).toBe(false);
    expect(without.config.hash).not.toBe(config.hash);
  });

  it('writes verifiers that a SCRAM-SHA-256 check accepts for the right password only', async () => {
    const { files } = render(await inputOf('ehealth'));
    const v = files.find((f) => f.path === 'secrets/users/drhouse.scram')?.content ?? '';
    expect(v).toMatch(/^SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}:[A-Za-z0-9+/=]{44}$/);
    expect(scramAccepts(v, 'example-doctor-password')).toBe(true);
    expect(scramAccepts(v, 'example-analyst-password')).toBe(false);
  });

  it('names a table as the proxy matches it: PUBLIC.Patient is public.patient, as validation counts it (issue 14: the proxy passed `patient` in clear)', async () => {
    const input = await inputOf('ehealth');
    const ds = input.policy.spec.datasets[0];
    if (!ds) throw new Error('no dataset');
    ds.table = 'PUBLIC.Patient';
    expect(render(input).config.policy.datasets[0]).toMatchObject({ schema: 'public', table: 'patient' });
    ds.table = 'Patient';
    expect(render(input).config.policy.datasets[0]).toMatchObject({ schema: 'public', table: 'patient' });
    const col = ds.columns.find((c) => c.name === 'pat_name');
    if (!col) throw new Error('no pat_name');
    col.name = 'Pat_Name';
    expect(render(input).config.policy.datasets[0]?.columns.filter((c) => c.name === 'pat_name')).toHaveLength(1);
    ds.columns.push({ ...col, name: 'PAT_NAME' });
    expect(() => render(input)).toThrow(/column pat_name is listed twice/);
    ds.columns.pop();
    // Two spellings of one table are refused here too (rules/securitypolicy.ts), never rendered as two datasets.
    input.policy.spec.datasets.push({ ...ds, name: 'again', table: 'public.PATIENT' });
    expect(() => render(input)).toThrow(/are the same table \(public\.patient\); each table may appear in one dataset only/);
  });

  it('is stable: same inputs, same hash and verifiers; a changed input changes them', async () => {
    const input = await inputOf('ehealth');
    const a = render(input);
    const b = render(structuredClone(input));
    expect(a.config.hash).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(b).toEqual(a);
    const newPw = render(withSecret(input, 'drhouse-pw', (s) => ({ ...s, stringData: { password: 'changed' } })));
    expect(newPw.config.hash).not.toBe(a.config.hash);
    const pw = (o: typeof a, u: string) => o.files.find((f) => f.path === `secrets/users/${u}.scram`)?.content;
    expect(pw(newPw, 'drhouse')).not.toBe(pw(a, 'drhouse'));
    expect(pw(newPw, 'analyst')).toBe(pw(a, 'analyst'));
    const replicas = render({ ...input, proxy: { ...input.proxy, spec: { ...input.proxy.spec, replicas: 7 } } });
    expect(replicas.config.hash).toBe(a.config.hash); // replica count is not part of the runtime config
    const policy = structuredClone(input.policy);
    policy.spec.onUnsupported = 'passthroughUnprotected';
    expect(render({ ...input, policy }).config.hash).not.toBe(a.config.hash);
  });

  it('reads keyrings given as data (base64) the same as stringData', async () => {
    const input = await inputOf('ehealth');
    const asData = withSecret(input, 'ehealth-keys', (s) => ({ ...s, data: Object.fromEntries(Object.entries(s.stringData ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), stringData: {} }));
    expect(render(asData).config.hash).toBe(render(input).config.hash);
  });

  it('renders collaborative mode: upstream with mTLS, no backends, external proxies with a client CA', async () => {
    const a = render(await inputOf('collaborative', 'a-proxy'));
    expect(a.config.backends).toEqual([]);
    expect(a.config.upstream).toEqual({ host: 'b-proxy.org-b.svc', port: 5432, user: 'org-a', tls: { certFile: 'secrets/upstream/tls.crt', keyFile: 'secrets/upstream/tls.key', caFile: 'secrets/upstream/ca.crt' } });
    expect(a.config.policy.datasets[0]?.columns.every((c) => c.backend === 'upstream')).toBe(true);
    const b = render(await inputOf('collaborative', 'b-proxy'));
    expect(b.config.users).toEqual([{ name: 'org-a', kind: 'externalProxy', certificateSubject: 'CN=a-proxy,O=Org A', grants: [{ grant: 'org-a-study', datasets: ['study'], access: 'readWrite', view: 'plaintext' }] }]);
    expect(b.config.tls).toEqual({ certFile: 'secrets/tls/tls.crt', keyFile: 'secrets/tls/tls.key', clientCaFile: 'secrets/tls/ca.crt', allowPlaintext: false });
  });

  it('throws a RenderError naming every missing Secret', async () => {
    const input = await inputOf('ehealth');
    const missing = withSecret({ ...input, secrets: input.secrets.filter((s) => !['cloud-b-creds', 'analyst-pw'].includes(s.metadata.name)) },
      'cloud-a-readonly-creds', (s) => ({ ...s, stringData: { username: 'clarus_a_ro' } }));
    let error: unknown;
    try {
      render(missing);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(RenderError);
    expect((error as RenderError).issues.map((i) => `${i.resource} ${i.path}: ${i.message}`)).toEqual([
      'CloudBackend/hospital/cloud-a spec.readOnlyCredentialsSecretRef.name: Secret cloud-a-readonly-creds has no key password',
      'CloudBackend/hospital/cloud-b spec.credentialsSecretRef.name: Secret cloud-b-creds not found in namespace hospital',
      'AccessGrant/hospital/analyst-patients spec.subject.passwordSecretRef.name: Secret analyst-pw not found',
    ]);
  });

  it('merges grants of one user, and refuses one user with two passwords', async () => {
    const input = await inputOf('ehealth');
    const second = structuredClone(input.grants.find((g) => g.metadata.name === 'analyst-patients'));
    if (!second) throw new Error('no analyst grant');
    second.metadata.name = 'analyst-visits';
    second.spec.access = 'readWrite';
    const merged = render({ ...input, grants: [...input.grants, second] });
    expect(merged.config.users.find((u) => u.name === 'analyst')?.grants.map((g) => `${g.grant}:${g.access}`)).toEqual(['analyst-patients:read', 'analyst-visits:readWrite']);
    second.spec.subject.passwordSecretRef = { name: 'drhouse-pw', key: 'password' };
    expect(() => render({ ...input, grants: [...input.grants, second] })).toThrow('AccessGrant/hospital/analyst-visits: spec.subject.passwordSecretRef: user analyst has a different password in grant analyst-patients');
  });

  it('sidecar mode listens on loopback', async () => {
    const input = await inputOf('passthrough');
    const out = render({ ...input, proxy: { ...input.proxy, spec: { ...input.proxy.spec, mode: 'Sidecar' } } });
    expect(out.config.listen).toEqual({ host: '127.0.0.1', port: 5432 });
    expect(out.config.policy.datasets).toEqual([]);
    expect(out.config.users[0]?.grants[0]?.datasets).toEqual(['*']);
  });

  it('writes the directory a pod mounts, secrets readable by the owner only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'clarus-render-'));
    try {
      const out = render(await inputOf('ehealth'));
      await writeRuntimeDir(out, dir);
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { hash: string };
      expect(config.hash).toBe(out.config.hash);
      expect((await readdir(join(dir, 'secrets/keyring'))).sort()).toEqual(['clinical.v1', 'default.v1']);
      expect((await stat(join(dir, 'secrets/users/drhouse.scram'))).mode & 0o777).toBe(0o600);
      expect(await readFile(join(dir, 'secrets/backends/cloud-b/username'), 'utf8')).toBe('clarus_b');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
