// Per-column encryption: what the rewriter and the result transformer call. Values are encrypted
// from their canonical text form (see canonical.ts); NULL is handled by callers (NULL stays NULL).
import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import type { KeyDeriver } from './derive.ts';
import { CiphertextError, decodeHeader, encodeHeader, HEADER_BYTES } from './header.ts';
import type { ModeName } from './header.ts';
import { requireKey } from './keyring.ts';
import { sivDecrypt, sivEncrypt } from './siv.ts';

/** Blind indexes are HMAC-SHA256 truncated to 16 bytes: 128 bits keep accidental collisions out of
 *  reach (birthday bound 2^64 values) while storing half the bytes; equality leaks the same either way. */
export const BLIND_INDEX_BYTES = 16;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;

export interface ColumnSpec {
  schema: string;
  table: string;
  column: string;
  mode: ModeName;
  searchable: boolean;
  keyName: string;
}

export interface ColumnCipher {
  readonly spec: ColumnSpec;
  /** Ciphertext with the current key version. */
  encrypt(text: string): Buffer;
  decrypt(stored: Uint8Array): string;
  /** Every stored form an equality test must match (deterministic: one per live key version). */
  equalityForms(text: string): Buffer[];
  /** Blind index with the current key version (searchable columns). */
  blindIndex(text: string): Buffer;
  /** Blind indexes under every live key version, for lookups during a rotation. */
  blindIndexes(text: string): Buffer[];
  /** The key version a stored ciphertext was written with (for re-encryption progress). */
  versionOf(stored: Uint8Array): number;
}

function aad(spec: ColumnSpec, header: Buffer): Buffer {
  return Buffer.concat([header, Buffer.from(`${spec.schema}.${spec.table}.${spec.column}`, 'utf8')]);
}

function scopeOf(spec: ColumnSpec): string {
  return `${spec.schema}.${spec.table}.${spec.column}`;
}

// Nonces come from a pool refilled by the CSPRNG in 3 KiB chunks: one system call per 256 values
// instead of one per value. Each nonce is used once (the pool position only moves forward).
const POOL_NONCES = 256;
const pool = Buffer.alloc(NONCE_BYTES * POOL_NONCES);
let poolPos = pool.length;

function freshNonce(): Buffer {
  if (poolPos >= pool.length) {
    randomFillSync(pool);
    poolPos = 0;
  }
  const n = Buffer.from(pool.subarray(poolPos, poolPos + NONCE_BYTES));
  poolPos += NONCE_BYTES;
  return n;
}

function gcmSeal(key: Buffer, header: Buffer, spec: ColumnSpec, pt: Buffer): Buffer {
  const nonce = freshNonce();
  const c = createCipheriv('aes-256-gcm', key, nonce);
  c.setAAD(aad(spec, header));
  const body = Buffer.concat([c.update(pt), c.final()]);
  return Buffer.concat([header, nonce, body, c.getAuthTag()]);
}

function gcmOpen(key: Buffer, spec: ColumnSpec, stored: Buffer): Buffer {
  if (stored.length < HEADER_BYTES + NONCE_BYTES + TAG_BYTES) throw new CiphertextError('randomized ciphertext too short');
  const header = stored.subarray(0, HEADER_BYTES);
  const nonce = stored.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const d = createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad(spec, header));
  d.setAuthTag(stored.subarray(stored.length - TAG_BYTES));
  try {
    return Buffer.concat([d.update(stored.subarray(HEADER_BYTES + NONCE_BYTES, stored.length - TAG_BYTES)), d.final()]);
  } catch {
    throw new CiphertextError(`authentication failed for ${scopeOf(spec)}`);
  }
}

export function columnCipher(deriver: KeyDeriver, spec: ColumnSpec): ColumnCipher {
  const entry = requireKey(deriver.ring, spec.keyName);
  const scope = scopeOf(spec);
  const sivScope = `key:${spec.keyName}`;
  const seal = (version: number, text: string): Buffer => {
    const header = encodeHeader({ mode: spec.mode, keyId: entry.id, version });
    const pt = Buffer.from(text, 'utf8');
    if (spec.mode === 'randomized') return gcmSeal(deriver.key(spec.keyName, version, 'gcm', scope), header, spec, pt);
    return Buffer.concat([header, sivEncrypt(deriver.key(spec.keyName, version, 'siv', sivScope), [header], pt)]);
  };
  const bidx = (version: number, text: string): Buffer =>
    createHmac('sha256', deriver.key(spec.keyName, version, 'bidx', scope)).update(text, 'utf8').digest().subarray(0, BLIND_INDEX_BYTES);
  const live = (): number[] => [entry.current, ...[...entry.versions.keys()].filter((v) => v !== entry.current)];
  return {
    spec,
    encrypt: (text) => seal(entry.current, text),
    decrypt(stored) {
      const buf = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
      const h = decodeHeader(buf);
      if (h.keyId !== entry.id) throw new CiphertextError(`ciphertext of ${scope} was written with another key`);
      if (h.mode !== spec.mode) throw new CiphertextError(`ciphertext of ${scope} has mode ${h.mode}, policy says ${spec.mode}`);
      if (h.mode === 'randomized') return gcmOpen(deriver.key(spec.keyName, h.version, 'gcm', scope), spec, buf).toString('utf8');
      const pt = sivDecrypt(deriver.key(spec.keyName, h.version, 'siv', sivScope), [buf.subarray(0, HEADER_BYTES)], buf.subarray(HEADER_BYTES));
      if (!pt) throw new CiphertextError(`authentication failed for ${scope}`);
      return pt.toString('utf8');
    },
    equalityForms: (text) => live().map((v) => seal(v, text)),
    blindIndex: (text) => bidx(entry.current, text),
    blindIndexes: (text) => live().map((v) => bidx(v, text)),
    versionOf: (stored) => decodeHeader(stored).version,
  };
}
