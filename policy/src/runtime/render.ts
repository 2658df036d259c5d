// The one pure function that turns resources into the runtime configuration directory a proxy
// pod mounts (layout in config.ts). The operator and `clarus policy render` both call it; nothing
// here touches files, sockets or clocks. Inputs may be raw manifests: schema defaults are applied.
import { clarusProxy, cloudBackend, objectSchema, securityPolicy, accessGrant } from '@clarus/crds/schema/index.ts';
import type { KindDef } from '@clarus/crds/schema/common.ts';
import type { AccessGrant, ClarusProxy, CloudBackend, SecretManifest, SecurityPolicy } from '@clarus/crds/types.ts';
import { applyDefaults } from '../validate/structural.ts';
import { configHash } from './canonical.ts';
import { createHash } from 'node:crypto';
import { RUNTIME_CONFIG_VERSION, VAULT_SA_TOKEN_FILE, type RuntimeBackend, type RuntimeConfig, type RuntimePolicy, type RuntimeVaultAuth, type RuntimeVaultTransit } from './config.ts';
import { parseKeyring } from './keyring.ts';
import { DEFAULT_KEY, runtimeDataset, UPSTREAM_BACKEND, usedKeyNames } from './policy.ts';
import { Problems, RenderError } from './problems.ts';
import { placementIssues, policyIssues } from '../rules/securitypolicy.ts';
import { secretKeyFor, secretText } from './secrets.ts';
import { renderUsers } from './users.ts';

export interface RenderInput {
  proxy: ClarusProxy;
  policy: SecurityPolicy;
  backends: CloudBackend[];
  /** Grants for this proxy (others are ignored). */
  grants: AccessGrant[];
  secrets: SecretManifest[];
}
export interface RenderedFile { path: string; content: string; secretKey: string }
export interface RenderOutput { config: RuntimeConfig; files: RenderedFile[] }

interface Ctx { ns: string; secrets: SecretManifest[]; problems: Problems; files: Array<{ path: string; content: string }> }

function defaulted<T extends { metadata: unknown }>(def: KindDef, obj: T): T {
  return { ...obj, ...(applyDefaults(objectSchema(def), { spec: (obj as { spec?: unknown }).spec }) as object) };
}

/** Adds DIR/<path> from a Secret key; reports a problem when the Secret or key is missing. */
function secretFile(ctx: Ctx, ref: { name: string; key: string }, path: string, owner: { id: string; field: string }): string | undefined {
  const secret = ctx.secrets.find((s) => s.metadata.name === ref.name);
  if (!secret) return ctx.problems.add(owner.id, owner.field, `Secret ${ref.name} not found in namespace ${ctx.ns}`);
  const content = secretText(secret, ref.key);
  if (content === undefined) return ctx.problems.add(owner.id, owner.field, `Secret ${ref.name} has no key ${ref.key}`);
  ctx.files.push({ path, content });
  return path;
}

function optionalSecretFile(ctx: Ctx, secretName: string, key: string, path: string): string | undefined {
  const secret = ctx.secrets.find((s) => s.metadata.name === secretName);
  const content = secret ? secretText(secret, key) : undefined;
  if (content === undefined) return undefined;
  ctx.files.push({ path, content });
  return path;
}

/** username/password of a backend role: `<prefix>username` and `<prefix>password` under the backend's folder. */
function roleFiles(ctx: Ctx, secretName: string, files: { dir: string; prefix: string }, owner: { id: string; field: string }): { usernameFile: string; passwordFile: string } {
  const file = (key: string): string => secretFile(ctx, { name: secretName, key }, `${files.dir}/${files.prefix}${key}`, owner) ?? '';
  return { usernameFile: file('username'), passwordFile: file('password') };
}

function renderBackend(ctx: Ctx, policy: SecurityPolicy, name: string, backends: CloudBackend[]): RuntimeBackend | undefined {
  const raw = backends.find((b) => b.metadata.name === name);
  if (!raw) return ctx.problems.add(`SecurityPolicy/${ctx.ns}/${policy.metadata.name}`, 'spec.backends', `CloudBackend ${name} not found in namespace ${ctx.ns}`);
  const b = defaulted(cloudBackend, raw);
  const owner = { id: `CloudBackend/${ctx.ns}/${name}`, field: 'spec.credentialsSecretRef.name' };
  const dir = `secrets/backends/${name}`;
  const out: RuntimeBackend = {
    name, host: b.spec.host, port: b.spec.port ?? 5432, database: b.spec.database,
    ...roleFiles(ctx, b.spec.credentialsSecretRef.name, { dir, prefix: '' }, owner),
    tls: { mode: b.spec.tls?.mode ?? 'verify-full' },
    pool: { maxConnections: b.spec.pool?.maxConnections ?? 20 },
  };
  const ro = b.spec.readOnlyCredentialsSecretRef;
  if (ro) out.readOnly = roleFiles(ctx, ro.name, { dir, prefix: 'readonly-' }, { id: owner.id, field: 'spec.readOnlyCredentialsSecretRef.name' });
  const caFile = backendCaFile(ctx, b, { dir, id: owner.id });
  if (caFile) out.tls.caFile = caFile;
  return out;
}

/** The file of a backend's TLS CA, when spec.tls.caSecretRef names one. */
function backendCaFile(ctx: Ctx, b: CloudBackend, at: { dir: string; id: string }): string | undefined {
  const ca = b.spec.tls?.caSecretRef;
  if (!ca) return undefined;
  return secretFile(ctx, { name: ca.name, key: ca.key ?? 'ca.crt' }, `${at.dir}/ca.crt`, { id: at.id, field: 'spec.tls.caSecretRef' });
}

/** Key of the deterministic SCRAM salts: the current default key, or with vaultTransit a hash of its wrapped text. */
function saltKeyOf(kr: ReturnType<typeof parseKeyring>, wrapped: boolean): Buffer | undefined {
  const def = kr.keys.find((k) => k.name === DEFAULT_KEY);
  const text = def ? kr.material.get(`${DEFAULT_KEY}.v${def.current}`) : undefined;
  if (!text) return undefined;
  // The wrapped text is as secret as the keyring Secret that holds it (the verifiers it keys sit in
  // the rendered Secret beside it); render never sees the unwrapped key.
  return wrapped ? createHash('sha256').update('clarus/scram-salt/v1\0').update(text).digest() : Buffer.from(text, 'base64');
}

type VaultSpec = NonNullable<SecurityPolicy['spec']['keyring']['vaultTransit']>;
type Owner = (field: string) => { id: string; field: string };

function renderVaultAuth(ctx: Ctx, v: VaultSpec, owner: Owner): RuntimeVaultAuth {
  const k8s = v.auth.kubernetes;
  if (k8s) return { method: 'kubernetes', mount: k8s.mount ?? 'kubernetes', role: k8s.role, tokenFile: VAULT_SA_TOKEN_FILE, ...(k8s.audience ? { audience: k8s.audience } : {}) };
  const ref = v.auth.tokenSecretRef;
  return { method: 'token', tokenFile: secretFile(ctx, { name: ref?.name ?? '', key: ref?.key ?? 'token' }, 'secrets/vault/token', owner('auth.tokenSecretRef')) ?? '' };
}

const LOOPBACK_HTTP = /^http:\/\/(127\.[0-9.]+|localhost|\[::1\])(:|$)/;

/** spec.keyring.vaultTransit → the runtime form, with the CA and token files it names. */
function renderVaultTransit(ctx: Ctx, policy: SecurityPolicy): RuntimeVaultTransit | undefined {
  const v = policy.spec.keyring.vaultTransit;
  if (policy.spec.keyring.provider !== 'vaultTransit' || !v) return undefined;
  const owner: Owner = (field) => ({ id: `SecurityPolicy/${ctx.ns}/${policy.metadata.name}`, field: `spec.keyring.vaultTransit.${field}` });
  const out: RuntimeVaultTransit = {
    address: v.address.replace(/\/$/, ''), mount: v.mount ?? 'transit', key: v.key, auth: renderVaultAuth(ctx, v, owner),
    maxUnreachableSeconds: v.maxUnreachableSeconds ?? 300, refreshSeconds: v.refreshSeconds ?? 60,
  };
  const ca = v.caSecretRef;
  if (ca) out.caFile = secretFile(ctx, { name: ca.name, key: ca.key ?? 'ca.crt' }, 'secrets/vault/ca.crt', owner('caSecretRef')) ?? '';
  checkVaultAddress(ctx, out.address, owner('address'));
  return out;
}

function checkVaultAddress(ctx: Ctx, address: string, o: { id: string; field: string }): void {
  if (!address.startsWith('http://') || LOOPBACK_HTTP.test(address)) return;
  ctx.problems.add(o.id, o.field, 'Vault must be reached over https (http:// only on loopback, for tests): the proxy sends its credentials and receives its keys there');
}

function renderKeyring(ctx: Ctx, policy: SecurityPolicy, datasets: RuntimePolicy['datasets']): { keyring: RuntimePolicy['keyring']; saltKey?: Buffer } {
  const id = `SecurityPolicy/${ctx.ns}/${policy.metadata.name}`;
  const name = policy.spec.keyring.secretName;
  const vaultTransit = renderVaultTransit(ctx, policy);
  const empty = { keyring: { dir: 'secrets/keyring', keys: [] } };
  const secret = ctx.secrets.find((s) => s.metadata.name === name);
  if (!secret) return ctx.problems.add(id, 'spec.keyring.secretName', `keyring Secret ${name} not found in namespace ${ctx.ns}`) ?? empty;
  const kr = parseKeyring(secret, vaultTransit !== undefined);
  for (const e of kr.errors) ctx.problems.add(`Secret/${ctx.ns}/${name}`, `data.${e.key}`, e.message);
  for (const k of new Set([DEFAULT_KEY, ...usedKeyNames(datasets)])) {
    // A malformed entry for the key was reported above; "missing" would only repeat it.
    if (!kr.keys.some((x) => x.name === k) && !kr.errors.some((e) => e.key.startsWith(`${k}.v`))) ctx.problems.add(id, 'spec.keyring.secretName', `keyring Secret ${name} has no key ${k} (expected data key ${k}.v1)`);
  }
  for (const [key, content] of [...kr.material.entries()].sort(([a], [b]) => a.localeCompare(b))) ctx.files.push({ path: `secrets/keyring/${key}`, content });
  const saltKey = saltKeyOf(kr, vaultTransit !== undefined);
  return { keyring: { dir: 'secrets/keyring', keys: kr.keys, ...(vaultTransit ? { vaultTransit } : {}) }, ...(saltKey ? { saltKey } : {}) };
}

function renderTls(ctx: Ctx, proxy: ClarusProxy): RuntimeConfig['tls'] {
  const t = proxy.spec.tls;
  if (!t) return undefined;
  const owner = { id: `ClarusProxy/${ctx.ns}/${proxy.metadata.name}`, field: 'spec.tls.secretName' };
  const out: NonNullable<RuntimeConfig['tls']> = {
    certFile: secretFile(ctx, { name: t.secretName, key: 'tls.crt' }, 'secrets/tls/tls.crt', owner) ?? '',
    keyFile: secretFile(ctx, { name: t.secretName, key: 'tls.key' }, 'secrets/tls/tls.key', owner) ?? '',
    allowPlaintext: t.allowPlaintext ?? false,
  };
  const ca = optionalSecretFile(ctx, t.secretName, 'ca.crt', 'secrets/tls/ca.crt');
  if (ca) out.clientCaFile = ca;
  return out;
}

function renderUpstream(ctx: Ctx, proxy: ClarusProxy): RuntimeConfig['upstream'] {
  const u = proxy.spec.upstream;
  if (!u) return undefined;
  const out: NonNullable<RuntimeConfig['upstream']> = { host: u.host, port: u.port ?? 5432, user: u.user ?? proxy.metadata.name };
  if (u.tls) {
    const owner = { id: `ClarusProxy/${ctx.ns}/${proxy.metadata.name}`, field: 'spec.upstream.tls.secretName' };
    const file = (key: string): string => secretFile(ctx, { name: u.tls?.secretName ?? '', key }, `secrets/upstream/${key}`, owner) ?? '';
    out.tls = { certFile: file('tls.crt'), keyFile: file('tls.key'), caFile: file('ca.crt') };
  }
  return out;
}

function defaultBackendOf(ctx: Ctx, policy: SecurityPolicy, proxy: ClarusProxy): string {
  const id = `ClarusProxy/${ctx.ns}/${proxy.metadata.name}`;
  for (const i of placementIssues(proxy.spec, policy.metadata.name, policy.spec)) ctx.problems.add(id, i.path, i.message);
  return policy.spec.backends[0] ?? UPSTREAM_BACKEND;
}

function checkRefs(ctx: Ctx, input: RenderInput): void {
  const id = `ClarusProxy/${ctx.ns}/${input.proxy.metadata.name}`;
  if (input.proxy.spec.policyRef.name !== input.policy.metadata.name) ctx.problems.add(id, 'spec.policyRef.name', `refers to ${input.proxy.spec.policyRef.name}, rendered with ${input.policy.metadata.name}`);
  for (const g of input.grants) {
    const gid = `AccessGrant/${ctx.ns}/${g.metadata.name}`;
    for (const [i, d] of g.spec.datasets.entries()) {
      if (d !== '*' && !input.policy.spec.datasets.some((x) => x.name === d)) ctx.problems.add(gid, `spec.datasets[${i}]`, `dataset ${d} is not in SecurityPolicy ${input.policy.metadata.name}`);
    }
  }
}

function checkFiles(ctx: Ctx, files: RenderedFile[]): void {
  for (const f of files) {
    if (!/^[-._a-zA-Z0-9]+$/.test(f.secretKey) || f.secretKey.length > 253) ctx.problems.add(`ClarusProxy/${ctx.ns}`, f.path, `cannot be stored as Secret key ${f.secretKey}`);
  }
}

/** Resources → runtime configuration and secret files. Throws RenderError listing every problem. */
export function render(input: RenderInput): RenderOutput {
  const proxy = defaulted(clarusProxy, input.proxy);
  const policy = defaulted(securityPolicy, input.policy);
  const grants = input.grants.filter((g) => g.spec.proxyRef.name === proxy.metadata.name).map((g) => defaulted(accessGrant, g));
  const ns = proxy.metadata.namespace ?? 'default';
  const ctx: Ctx = { ns, secrets: input.secrets, problems: new Problems(), files: [] };
  for (const i of policyIssues(policy.spec, policy.metadata)) ctx.problems.add(`SecurityPolicy/${ns}/${policy.metadata.name}`, i.path, i.message);
  checkRefs(ctx, { ...input, proxy, policy, grants });
  const defaultBackend = defaultBackendOf(ctx, policy, proxy);
  const datasets = policy.spec.datasets.map((d) => runtimeDataset(policy.spec, d, defaultBackend));
  const backends = proxy.spec.upstream ? [] : policy.spec.backends.map((b) => renderBackend(ctx, policy, b, input.backends)).filter((b): b is RuntimeBackend => b !== undefined);
  const { keyring, saltKey } = renderKeyring(ctx, policy, datasets);
  const { users, tls } = renderClients(ctx, { grants, secrets: input.secrets, proxy }, saltKey);
  const config: RuntimeConfig = {
    version: RUNTIME_CONFIG_VERSION,
    proxy: { name: proxy.metadata.name, namespace: ns },
    ...listenOf(proxy),
    ...(tls ? { tls } : {}),
    backends,
    ...(proxy.spec.upstream ? { upstream: renderUpstream(ctx, proxy) } : {}),
    users,
    policy: { name: policy.metadata.name, onUnsupported: policy.spec.onUnsupported ?? 'reject', defaultBackend, keyring, datasets },
    limits: limitsOf(proxy),
  };
  const files = ctx.files.map((f) => ({ ...f, secretKey: secretKeyFor(f.path) })).sort((a, b) => a.path.localeCompare(b.path));
  checkFiles(ctx, files);
  if (ctx.problems.issues.length > 0) throw new RenderError(ctx.problems.issues);
  config.hash = configHash(config, files);
  return { config, files };
}

/** The users the grants define and the TLS they need (an externalProxy user needs client certificates). */
function renderClients(ctx: Ctx, input: Pick<RenderInput, 'grants' | 'secrets' | 'proxy'>, saltKey: Buffer | undefined): { users: RuntimeConfig['users']; tls: RuntimeConfig['tls'] } {
  const { users, files } = renderUsers(input.grants, { secrets: input.secrets, saltKey, namespace: ctx.ns, problems: ctx.problems });
  ctx.files.push(...files);
  const tls = renderTls(ctx, input.proxy);
  if (users.some((u) => u.kind === 'externalProxy') && !tls?.clientCaFile) ctx.problems.add(`ClarusProxy/${ctx.ns}/${input.proxy.metadata.name}`, 'spec.tls.secretName', 'an AccessGrant names an externalProxy, which authenticates with a client certificate: spec.tls must name a Secret with ca.crt');
  return { users, tls };
}

/** Sidecars listen on loopback only: the application shares the pod's network namespace. */
function listenOf(proxy: ClarusProxy): Pick<RuntimeConfig, 'listen' | 'metricsListen'> {
  const sidecar = proxy.spec.mode === 'Sidecar';
  return {
    listen: { host: sidecar ? '127.0.0.1' : '0.0.0.0', port: proxy.spec.service?.port ?? 5432 },
    metricsListen: { host: '0.0.0.0', port: proxy.spec.metrics?.port ?? 9187 },
  };
}

/** Limits without a default: present in the runtime config only when the ClarusProxy sets them. */
const OPTIONAL_LIMITS = ['maxStatementBytes', 'analysisCacheBytes', 'computeInProxy', 'computeMaxRows', 'computeMaxBytes', 'computeIdleSeconds'] as const;

function limitsOf(proxy: ClarusProxy): RuntimeConfig['limits'] {
  const l = proxy.spec.limits ?? {};
  const optional = Object.fromEntries(OPTIONAL_LIMITS.filter((k) => l[k] !== undefined).map((k) => [k, l[k]]));
  return {
    maxConnections: l.maxConnections ?? 1000,
    maxMessageBytes: l.maxMessageBytes ?? 67108864,
    connectTimeoutSeconds: l.connectTimeoutSeconds ?? 10,
    idleTimeoutSeconds: l.idleTimeoutSeconds ?? 0,
    drainSeconds: l.drainSeconds ?? 30,
    ...optional,
  };
}

export { RenderError };
