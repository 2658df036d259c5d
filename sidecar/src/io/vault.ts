// HashiCorp Vault's transit engine over its HTTP API: unwrap (decrypt) a wrapped data key, ask for a
// new wrapped data key (datakey/wrapped: the plaintext never leaves Vault), rewrap after a transit-key
// rotation, rotate the transit key. Logs in with a Kubernetes service-account token (auth method
// kubernetes) or uses a token file. The only place that talks to Vault; used by the proxy's key
// source (key-source.ts) and by `clarus keys`.
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Auth: a projected service-account JWT exchanged at auth/<mount>/login, or a Vault token as is. */
export type VaultLogin =
  | { method: 'kubernetes'; mount: string; role: string; jwt: () => string }
  | { method: 'token'; token: () => string };

export interface VaultSettings {
  address: string;
  mount: string;
  key: string;
  /** PEM of the CA Vault's certificate chains to (https); absent: the system CAs. */
  ca?: string;
  login: VaultLogin;
  /** Per request (default 5 s). */
  timeoutMs?: number;
}

/**
 * unreachable: no answer, a timeout, 429 or a 5xx (sealed, standby, overloaded); the keys in memory
 * stay in use for a bounded time. denied: Vault answered no (403, 400: a revoked token or policy, a
 * deleted key, a ciphertext below min_decryption_version); the key it concerns is dropped at once.
 */
export class VaultError extends Error {
  override readonly name = 'VaultError';
  readonly kind: 'unreachable' | 'denied';
  readonly status: number | undefined;
  constructor(kind: 'unreachable' | 'denied', message: string, status?: number) {
    super(message);
    this.kind = kind;
    this.status = status;
  }
}

interface Answer { status: number; body: Record<string, unknown> }

const MAX_ANSWER_BYTES = 1 << 20;

/** One HTTP request to Vault's API: `path` under /v1/, with the token (none to log in) and a JSON payload. */
interface Call { method: 'GET' | 'POST'; path: string; token: string | undefined; payload?: unknown }

function send(s: VaultSettings, { method, path, token, payload }: Call): Promise<Answer> {
  const url = new URL(`${s.address.replace(/\/$/, '')}/v1/${path}`);
  const body = payload === undefined ? undefined : Buffer.from(JSON.stringify(payload));
  const headers: Record<string, string> = { accept: 'application/json' };
  if (token) headers['x-vault-token'] = token;
  if (body) { headers['content-type'] = 'application/json'; headers['content-length'] = String(body.length); }
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, timeout: s.timeoutMs ?? 5000, ...(s.ca ? { ca: s.ca } : {}) }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_ANSWER_BYTES) { req.destroy(new Error('answer too large')); return; }
        chunks.push(c);
      });
      res.on('end', () => {
        let parsed: unknown = {};
        try { parsed = chunks.length ? JSON.parse(Buffer.concat(chunks).toString('utf8')) : {}; } catch { parsed = {}; }
        resolve({ status: res.statusCode ?? 0, body: typeof parsed === 'object' && parsed !== null ? parsed as Record<string, unknown> : {} });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${s.timeoutMs ?? 5000} ms`)));
    req.on('error', reject);
    req.end(body);
  });
}

function errorsOf(a: Answer): string {
  const e = a.body.errors;
  return Array.isArray(e) && e.length > 0 ? e.map(String).join('; ') : `HTTP ${a.status}`;
}

function classify(a: Answer, what: string): VaultError {
  const kind = a.status === 429 || a.status >= 500 || a.status === 0 ? 'unreachable' : 'denied';
  return new VaultError(kind, `${what}: ${errorsOf(a)}`, a.status);
}

function dataField(a: Answer, field: string, what: string): string {
  const data = a.body.data as Record<string, unknown> | undefined;
  const v = data?.[field];
  if (typeof v !== 'string' || v === '') throw new VaultError('unreachable', `${what}: the answer has no data.${field}`, a.status);
  return v;
}

export class VaultTransit {
  readonly settings: VaultSettings;
  private token: { value: string; expires: number } | undefined;
  private readonly now: () => number;

  constructor(settings: VaultSettings, now: () => number = Date.now) {
    this.settings = settings;
    this.now = now;
  }

  /** The plaintext of a wrapped data key (Vault's transit/decrypt). */
  async unwrap(wrapped: string): Promise<Buffer> {
    const a = await this.call('POST', `decrypt/${this.settings.key}`, { ciphertext: wrapped }, 'unwrap');
    return Buffer.from(dataField(a, 'plaintext', 'unwrap'), 'base64');
  }

  /** A fresh 256-bit data key, wrapped; Vault generates it and returns only the wrapped form. */
  async newWrappedKey(): Promise<string> {
    const a = await this.call('POST', `datakey/wrapped/${this.settings.key}`, { bits: 256 }, 'new data key');
    return dataField(a, 'ciphertext', 'new data key');
  }

  /** Wraps an existing key (moving a plaintext keyring into Vault: the rows it encrypted stay readable). */
  async wrap(plaintext: Buffer): Promise<string> {
    const a = await this.call('POST', `encrypt/${this.settings.key}`, { plaintext: plaintext.toString('base64') }, 'wrap');
    return dataField(a, 'ciphertext', 'wrap');
  }

  /** The same data key wrapped with the transit key's latest version (Vault never shows the plaintext). */
  async rewrap(wrapped: string): Promise<string> {
    const a = await this.call('POST', `rewrap/${this.settings.key}`, { ciphertext: wrapped }, 'rewrap');
    return dataField(a, 'ciphertext', 'rewrap');
  }

  /** Adds a version to the transit key; new wraps and rewraps use it. */
  async rotateTransitKey(): Promise<void> {
    await this.call('POST', `keys/${this.settings.key}/rotate`, {}, 'rotate transit key');
  }

  private async call(method: 'GET' | 'POST', path: string, payload: unknown, what: string): Promise<Answer> {
    const first = await this.request(method, `${this.settings.mount}/${path}`, payload, what);
    // A service-account login's token may have been revoked or expired early: log in once more.
    if (first.status === 403 && this.settings.login.method === 'kubernetes') {
      this.token = undefined;
      const again = await this.request(method, `${this.settings.mount}/${path}`, payload, what);
      if (again.status < 300) return again;
      throw classify(again, what);
    }
    if (first.status < 300) return first;
    throw classify(first, what);
  }

  private async request(method: 'GET' | 'POST', path: string, payload: unknown, what: string): Promise<Answer> {
    const token = await this.currentToken();
    try {
      return await send(this.settings, { method, path, token, payload });
    } catch (e) {
      throw new VaultError('unreachable', `${what}: ${(e as Error).message}`);
    }
  }

  private async currentToken(): Promise<string> {
    const l = this.settings.login;
    if (l.method === 'token') return readToken(l.token, 'token file');
    if (this.token && this.token.expires > this.now()) return this.token.value;
    let a: Answer;
    try {
      a = await send(this.settings, { method: 'POST', path: `auth/${l.mount}/login`, token: undefined, payload: { role: l.role, jwt: readToken(l.jwt, 'service-account token') } });
    } catch (e) {
      throw new VaultError('unreachable', `login: ${(e as Error).message}`);
    }
    if (a.status >= 300) throw classify(a, 'login');
    const auth = a.body.auth as { client_token?: unknown; lease_duration?: unknown } | undefined;
    if (typeof auth?.client_token !== 'string') throw new VaultError('unreachable', 'login: the answer has no auth.client_token', a.status);
    // Renew by logging in again at two thirds of the lease (a lease of 0 never expires).
    const lease = typeof auth.lease_duration === 'number' && auth.lease_duration > 0 ? auth.lease_duration : 3600;
    this.token = { value: auth.client_token, expires: this.now() + (lease * 1000 * 2) / 3 };
    return auth.client_token;
  }
}

function readToken(read: () => string, what: string): string {
  let t: string;
  try {
    t = read().trim();
  } catch (e) {
    throw new VaultError('denied', `cannot read the ${what}: ${(e as Error).message}`);
  }
  if (!t) throw new VaultError('denied', `the ${what} is empty`);
  return t;
}

/** A reader of a token file, read at each use: the kubelet refreshes projected tokens in place. */
export function tokenFile(path: string): () => string {
  return () => readFileSync(path, 'utf8');
}
