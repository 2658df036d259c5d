// SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL speaks it: the server side, which checks clients
// against stored verifiers, and the client side, which the proxy uses towards backends. Pure apart
// from node:crypto (randomness and hashing). Channel binding (SCRAM-SHA-256-PLUS) is not offered;
// passwords are used as given (no SASLprep), which equals SASLprep for ASCII passwords.
import { createHash, createHmac, pbkdf2Sync, randomBytes, timingSafeEqual } from 'node:crypto';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
export const DEFAULT_ITERATIONS = 4096;

export interface ScramVerifier {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

const hmac = (key: Buffer, data: string | Buffer): Buffer => createHmac('sha256', key).update(data).digest();
const sha256 = (data: Buffer): Buffer => createHash('sha256').update(data).digest();
const xor = (a: Buffer, b: Buffer): Buffer => {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = (a[i] as number) ^ (b[i] as number);
  return out;
};

const VERIFIER_RE = /^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$/;

/** Parses PostgreSQL's verifier format: SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>. */
export function parseVerifier(text: string): ScramVerifier | null {
  const m = VERIFIER_RE.exec(text.trim());
  if (!m) return null;
  const v = { iterations: Number(m[1]), salt: Buffer.from(m[2] as string, 'base64'),
    storedKey: Buffer.from(m[3] as string, 'base64'), serverKey: Buffer.from(m[4] as string, 'base64') };
  if (v.iterations < 1 || v.storedKey.length !== 32 || v.serverKey.length !== 32 || v.salt.length === 0) return null;
  return v;
}

function saltedKeys(password: string, salt: Buffer, iterations: number): { clientKey: Buffer; serverKey: Buffer } {
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  return { clientKey: hmac(salted, 'Client Key'), serverKey: hmac(salted, 'Server Key') };
}

// The client side derives the same salted keys for every new backend session (same password, the
// backend's stored salt and iteration count): a blocking 4096-round PBKDF2 each time. Derived keys
// are cached per (password, salt, iterations), keyed by a hash so the map holds no password text.
// Bounded (oldest entry evicted): a proxy has few backends, each with one credential.
const KEY_CACHE_MAX = 64;
const keyCache = new Map<string, { clientKey: Buffer; serverKey: Buffer }>();

function cachedSaltedKeys(password: string, salt: Buffer, iterations: number): { clientKey: Buffer; serverKey: Buffer } {
  const id = createHash('sha256').update(password).update('\0').update(salt).update(`\0${iterations}`).digest('base64');
  const hit = keyCache.get(id);
  if (hit) return hit;
  const keys = saltedKeys(password, salt, iterations);
  if (keyCache.size >= KEY_CACHE_MAX) keyCache.delete(keyCache.keys().next().value as string);
  keyCache.set(id, keys);
  return keys;
}

/** Entries in the client-side key cache (for tests). */
export function scramKeyCacheSize(): number { return keyCache.size; }
export function clearScramKeyCache(): void { keyCache.clear(); }

/** Computes a verifier from a password (what `ALTER ROLE ... PASSWORD` stores). */
export function makeVerifier(password: string, iterations = DEFAULT_ITERATIONS, salt = randomBytes(16)): string {
  const { clientKey, serverKey } = saltedKeys(password, salt, iterations);
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${sha256(clientKey).toString('base64')}:${serverKey.toString('base64')}`;
}

const mockSecret = randomBytes(32);
/**
 * A verifier for a user that does not exist: same shape and iteration count as real ones, with a
 * salt that is stable per user name (so probing twice looks the same) and keys nobody can match.
 */
export function mockVerifier(user: string): ScramVerifier {
  return { iterations: DEFAULT_ITERATIONS, salt: hmac(mockSecret, `salt:${user}`).subarray(0, 16),
    storedKey: hmac(mockSecret, `stored:${user}`), serverKey: hmac(mockSecret, `server:${user}`) };
}

function attrs(s: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of s.split(',')) {
    if (part.length < 2 || part[1] !== '=') continue;
    out.set(part[0] as string, part.slice(2));
  }
  return out;
}

export type ServerStep = { ok: true; data: string } | { ok: false; reason: string };

/** Server side of one exchange. first() answers client-first, final() checks client-final. */
export class ScramServer {
  private readonly verifier: ScramVerifier;
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';
  private gs2 = '';

  constructor(verifier: ScramVerifier) { this.verifier = verifier; }

  first(clientFirst: string): ServerStep {
    const m = /^([ny]),(?:a=[^,]*)?,(.*)$/.exec(clientFirst);
    if (!m) return { ok: false, reason: 'malformed client-first-message or unsupported channel binding' };
    this.gs2 = clientFirst.slice(0, clientFirst.length - (m[2] as string).length);
    this.clientFirstBare = m[2] as string;
    const a = attrs(this.clientFirstBare);
    const cnonce = a.get('r');
    if (!cnonce || a.has('m')) return { ok: false, reason: 'malformed client-first-message' };
    this.nonce = cnonce + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${this.verifier.salt.toString('base64')},i=${this.verifier.iterations}`;
    return { ok: true, data: this.serverFirst };
  }

  final(clientFinal: string): ServerStep {
    const idx = clientFinal.lastIndexOf(',p=');
    if (idx < 0) return { ok: false, reason: 'malformed client-final-message' };
    const withoutProof = clientFinal.slice(0, idx);
    const a = attrs(withoutProof);
    if (a.get('c') !== Buffer.from(this.gs2).toString('base64')) return { ok: false, reason: 'channel binding mismatch' };
    if (a.get('r') !== this.nonce) return { ok: false, reason: 'nonce mismatch' };
    const proof = Buffer.from(clientFinal.slice(idx + 3), 'base64');
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const signature = hmac(this.verifier.storedKey, authMessage);
    const good = proof.length === 32 && timingSafeEqual(sha256(xor(proof, signature)), this.verifier.storedKey);
    if (!good) return { ok: false, reason: 'wrong password' };
    return { ok: true, data: `v=${hmac(this.verifier.serverKey, authMessage).toString('base64')}` };
  }
}

/** Client side of one exchange, towards a backend. */
export class ScramClient {
  private readonly password: string;
  private readonly cnonce: string;
  private expectedServerSignature: Buffer | null = null;

  /** `cnonce` only for tests (a fixed nonce makes two exchanges comparable). */
  constructor(password: string, cnonce = randomBytes(18).toString('base64')) { this.password = password; this.cnonce = cnonce; }

  first(): string { return `n,,n=,r=${this.cnonce}`; }

  /** Answers server-first; returns null when the server's message is not acceptable. */
  final(serverFirst: string): string | null {
    const a = attrs(serverFirst);
    const nonce = a.get('r');
    const salt = a.get('s');
    const iterations = Number(a.get('i'));
    if (!nonce || !nonce.startsWith(this.cnonce) || !salt || !Number.isInteger(iterations) || iterations < 1) return null;
    const { clientKey, serverKey } = cachedSaltedKeys(this.password, Buffer.from(salt, 'base64'), iterations);
    const withoutProof = `c=biws,r=${nonce}`;
    const authMessage = `n=,r=${this.cnonce},${serverFirst},${withoutProof}`;
    const proof = xor(clientKey, hmac(sha256(clientKey), authMessage));
    this.expectedServerSignature = hmac(serverKey, authMessage);
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Checks the server's final message: proves the server knew the verifier too. */
  verify(serverFinal: string): boolean {
    const v = attrs(serverFinal).get('v');
    if (!v || !this.expectedServerSignature) return false;
    const got = Buffer.from(v, 'base64');
    return got.length === 32 && timingSafeEqual(got, this.expectedServerSignature);
  }
}

/** PostgreSQL's md5 password answer: 'md5' + md5(md5(password + user) + salt). */
export function md5Answer(user: string, password: string, salt: Uint8Array): string {
  const inner = createHash('md5').update(password + user).digest('hex');
  return `md5${createHash('md5').update(inner).update(salt).digest('hex')}`;
}
