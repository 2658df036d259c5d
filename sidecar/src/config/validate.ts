// Structural validation of config.json: every problem found, as readable paths, so an operator
// sees all mistakes at once. Policy semantics are validated by crds (render step), not here.
type Problems = string[];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks fields of one object at `path`, collecting problems. */
class At {
  readonly p: Problems;
  readonly o: Record<string, unknown>;
  readonly path: string;
  constructor(p: Problems, o: Record<string, unknown>, path: string) { this.p = p; this.o = o; this.path = path; }

  str(key: string, optional = false): void {
    const v = this.o[key];
    if (v === undefined && optional) return;
    if (typeof v !== 'string' || v === '') this.p.push(`${this.path}.${key} must be a non-empty string`);
  }

  num(key: string, min: number): void {
    const v = this.o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) this.p.push(`${this.path}.${key} must be a number >= ${min}`);
  }
}

function hostPort(p: Problems, v: unknown, path: string): void {
  if (!isObj(v)) { p.push(`${path} must be an object {host, port}`); return; }
  new At(p, v, path).str('host');
  new At(p, v, path).num('port', 0);
}

const TLS_MODES = ['disable', 'require', 'verify-ca', 'verify-full'];

function backendTls(p: Problems, tls: unknown, path: string): void {
  if (!isObj(tls) || !TLS_MODES.includes(String(tls.mode))) p.push(`${path}.tls.mode must be one of ${TLS_MODES.join(', ')}`);
  else if ((tls.mode === 'verify-ca' || tls.mode === 'verify-full') && typeof tls.caFile !== 'string') p.push(`${path}.tls.caFile is required for ${String(tls.mode)}`);
}

function backend(p: Problems, b: unknown, path: string): void {
  if (!isObj(b)) { p.push(`${path} must be an object`); return; }
  for (const k of ['name', 'host', 'database', 'usernameFile', 'passwordFile']) new At(p, b, path).str(k);
  if (b.readOnly !== undefined) {
    if (!isObj(b.readOnly)) p.push(`${path}.readOnly must be an object {usernameFile, passwordFile}`);
    else for (const k of ['usernameFile', 'passwordFile']) new At(p, b.readOnly, `${path}.readOnly`).str(k);
  }
  new At(p, b, path).num('port', 1);
  backendTls(p, b.tls, path);
  if (!isObj(b.pool)) p.push(`${path}.pool must be an object`);
  else new At(p, b.pool, `${path}.pool`).num('maxConnections', 1);
}

/** Collaborative mode: every session goes to the partner proxy, so there are no backends of our own. */
function upstream(p: Problems, u: unknown, backends: unknown): void {
  if (!Array.isArray(backends) || backends.length > 0) p.push('backends must be an empty array when upstream is set (all statements go to the partner proxy)');
  if (!isObj(u)) { p.push('upstream must be an object {host, port, user, tls?}'); return; }
  new At(p, u, 'upstream').str('host');
  new At(p, u, 'upstream').num('port', 1);
  new At(p, u, 'upstream').str('user');
  if (u.tls === undefined) return;
  if (!isObj(u.tls)) { p.push('upstream.tls must be an object {certFile, keyFile, caFile}'); return; }
  for (const k of ['certFile', 'keyFile', 'caFile']) new At(p, u.tls, 'upstream.tls').str(k);
}

function user(p: Problems, u: unknown, path: string): void {
  if (!isObj(u)) { p.push(`${path} must be an object`); return; }
  new At(p, u, path).str('name');
  if (u.kind !== 'user' && u.kind !== 'externalProxy') p.push(`${path}.kind must be user or externalProxy`);
  if (u.kind === 'user') new At(p, u, path).str('verifierFile');
  if (u.kind === 'externalProxy') new At(p, u, path).str('certificateSubject');
  if (!Array.isArray(u.grants)) p.push(`${path}.grants must be an array`);
}

/** policy.keyring.vaultTransit: where the wrapped keys are unwrapped and how the proxy logs in. */
function vaultTransit(p: Problems, v: unknown): void {
  const path = 'policy.keyring.vaultTransit';
  if (!isObj(v)) { p.push(`${path} must be an object`); return; }
  const at = new At(p, v, path);
  for (const k of ['address', 'mount', 'key']) at.str(k);
  at.str('caFile', true);
  if (typeof v.address === 'string' && !/^https?:\/\/[^/?#\s]+$/.test(v.address)) p.push(`${path}.address must be http(s)://HOST[:PORT]`);
  at.num('maxUnreachableSeconds', 0);
  at.num('refreshSeconds', 1);
  const a = v.auth;
  if (!isObj(a) || (a.method !== 'kubernetes' && a.method !== 'token')) { p.push(`${path}.auth.method must be kubernetes or token`); return; }
  new At(p, a, `${path}.auth`).str('tokenFile');
  if (a.method === 'kubernetes') for (const k of ['mount', 'role']) new At(p, a, `${path}.auth`).str(k);
}

function limits(p: Problems, l: unknown): void {
  if (!isObj(l)) { p.push('limits must be an object'); return; }
  new At(p, l, 'limits').num('maxConnections', 1);
  new At(p, l, 'limits').num('maxMessageBytes', 1024);
  new At(p, l, 'limits').num('connectTimeoutSeconds', 0);
  new At(p, l, 'limits').num('idleTimeoutSeconds', 0);
  new At(p, l, 'limits').num('drainSeconds', 0);
}

/**
 * One dataset per table: the rewriter keys datasets by schema and table, so a second dataset for
 * the same table would silently replace the first (and its protections) — render refuses that
 * already; a hand-made or stale config.json is refused here too. Names fold to lower case.
 */
function datasetTables(p: Problems, datasets: unknown): void {
  if (!Array.isArray(datasets)) { p.push('policy.datasets must be an array'); return; }
  const seen = new Set<string>();
  datasets.forEach((d, i) => {
    if (!isObj(d) || typeof d.schema !== 'string' || typeof d.table !== 'string') { p.push(`policy.datasets[${i}] must name its schema and table`); return; }
    const key = `${d.schema}.${d.table}`.toLowerCase();
    if (seen.has(key)) p.push(`policy.datasets[${i}]: table ${key} is already protected by another dataset`);
    seen.add(key);
  });
}

export function validateConfig(raw: unknown): string[] {
  const p: Problems = [];
  if (!isObj(raw)) return ['the document must be a JSON object'];
  if (!isObj(raw.proxy)) p.push('proxy must be an object {name, namespace}');
  hostPort(p, raw.listen, 'listen');
  hostPort(p, raw.metricsListen, 'metricsListen');
  clientTls(p, raw.tls);
  if (raw.upstream !== undefined) upstream(p, raw.upstream, raw.backends);
  else if (!Array.isArray(raw.backends) || raw.backends.length === 0) p.push('backends must be a non-empty array (or empty with upstream set)');
  else raw.backends.forEach((b, i) => backend(p, b, `backends[${i}]`));
  if (!Array.isArray(raw.users)) p.push('users must be an array');
  else raw.users.forEach((u, i) => user(p, u, `users[${i}]`));
  policy(p, raw.policy);
  limits(p, raw.limits);
  return p;
}

function clientTls(p: Problems, tls: unknown): void {
  if (tls === undefined) return;
  if (!isObj(tls)) { p.push('tls must be an object'); return; }
  new At(p, tls, 'tls').str('certFile');
  new At(p, tls, 'tls').str('keyFile');
  new At(p, tls, 'tls').str('clientCaFile', true);
}

function policy(p: Problems, raw: unknown): void {
  if (!isObj(raw)) { p.push('policy must be an object'); return; }
  new At(p, raw, 'policy').str('defaultBackend');
  datasetTables(p, raw.datasets);
  const kr = raw.keyring;
  if (isObj(kr) && kr.vaultTransit !== undefined) vaultTransit(p, kr.vaultTransit);
}
