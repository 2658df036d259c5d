// Structural validation of config.json: every problem found, as readable paths, so an operator
// sees all mistakes at once. Policy semantics are validated by crds (render step), not here.
type Problems = string[];

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function str(p: Problems, o: Record<string, unknown>, key: string, path: string, optional = false): void {
  const v = o[key];
  if (v === undefined && optional) return;
  if (typeof v !== 'string' || v === '') p.push(`${path}.${key} must be a non-empty string`);
}

function num(p: Problems, o: Record<string, unknown>, key: string, path: string, min: number): void {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min) p.push(`${path}.${key} must be a number >= ${min}`);
}

function hostPort(p: Problems, v: unknown, path: string): void {
  if (!isObj(v)) { p.push(`${path} must be an object {host, port}`); return; }
  str(p, v, 'host', path);
  num(p, v, 'port', path, 0);
}

const TLS_MODES = ['disable', 'require', 'verify-ca', 'verify-full'];

function backend(p: Problems, b: unknown, path: string): void {
  if (!isObj(b)) { p.push(`${path} must be an object`); return; }
  for (const k of ['name', 'host', 'database', 'usernameFile', 'passwordFile']) str(p, b, k, path);
  num(p, b, 'port', path, 1);
  const tls = b.tls;
  if (!isObj(tls) || !TLS_MODES.includes(String(tls.mode))) p.push(`${path}.tls.mode must be one of ${TLS_MODES.join(', ')}`);
  else if ((tls.mode === 'verify-ca' || tls.mode === 'verify-full') && typeof tls.caFile !== 'string') p.push(`${path}.tls.caFile is required for ${String(tls.mode)}`);
  if (!isObj(b.pool)) p.push(`${path}.pool must be an object`);
  else num(p, b.pool, 'maxConnections', `${path}.pool`, 1);
}

function user(p: Problems, u: unknown, path: string): void {
  if (!isObj(u)) { p.push(`${path} must be an object`); return; }
  str(p, u, 'name', path);
  if (u.kind !== 'user' && u.kind !== 'externalProxy') p.push(`${path}.kind must be user or externalProxy`);
  if (u.kind === 'user') str(p, u, 'verifierFile', path);
  if (!Array.isArray(u.grants)) p.push(`${path}.grants must be an array`);
}

function limits(p: Problems, l: unknown): void {
  if (!isObj(l)) { p.push('limits must be an object'); return; }
  num(p, l, 'maxConnections', 'limits', 1);
  num(p, l, 'maxMessageBytes', 'limits', 1024);
  num(p, l, 'connectTimeoutSeconds', 'limits', 0);
  num(p, l, 'idleTimeoutSeconds', 'limits', 0);
  num(p, l, 'drainSeconds', 'limits', 0);
}

export function validateConfig(raw: unknown): string[] {
  const p: Problems = [];
  if (!isObj(raw)) return ['the document must be a JSON object'];
  if (!isObj(raw.proxy)) p.push('proxy must be an object {name, namespace}');
  hostPort(p, raw.listen, 'listen');
  hostPort(p, raw.metricsListen, 'metricsListen');
  if (raw.tls !== undefined) {
    if (!isObj(raw.tls)) p.push('tls must be an object');
    else { str(p, raw.tls, 'certFile', 'tls'); str(p, raw.tls, 'keyFile', 'tls'); str(p, raw.tls, 'clientCaFile', 'tls', true); }
  }
  if (!Array.isArray(raw.backends) || raw.backends.length === 0) p.push('backends must be a non-empty array');
  else raw.backends.forEach((b, i) => backend(p, b, `backends[${i}]`));
  if (!Array.isArray(raw.users)) p.push('users must be an array');
  else raw.users.forEach((u, i) => user(p, u, `users[${i}]`));
  if (!isObj(raw.policy)) p.push('policy must be an object');
  else str(p, raw.policy, 'defaultBackend', 'policy');
  limits(p, raw.limits);
  return p;
}
