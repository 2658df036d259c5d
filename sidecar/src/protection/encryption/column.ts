// Per-column encryption: what the rewriter and the result transformer call. Values are encrypted
// from their canonical text form (see canonical.ts); NULL is handled by callers (NULL stays NULL).
import { createCipheriv, createDecipheriv, createHmac, randomFillSync } from 'node:crypto';
import type { KeyDeriver } from './derive.ts';
import { CiphertextError, decodeHeader, encodeHeader, HEADER_BYTES } from './header.ts';
import type { ModeName } from './header.ts';
import { assertUsable, KeyringError, requireKey } from './keyring.ts';
import { sivSealer } from './siv.ts';
import type { SivSealer } from './siv.ts';

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
  /** The plaintext's UTF-8 bytes (what decrypt returns, before decoding to a string). */
  decryptBytes(stored: Uint8Array): Buffer;
  /** Every stored form an equality test must match (deterministic: one per live key version). */
  equalityForms(text: string): Buffer[];
  /** Blind index with the current key version (searchable columns). */
  blindIndex(text: string): Buffer;
  /** Blind indexes under every live key version, for lookups during a rotation. */
  blindIndexes(text: string): Buffer[];
  /**
   * The masked view's keyed hash (`maskedView.function: hash`), current key version: HMAC-SHA256
   * under a key of its own ('mask'), so it cannot be linked to the stored blind index.
   */
  maskHash(text: string): Buffer;
  /** The key version a stored ciphertext was written with (for re-encryption progress). */
  versionOf(stored: Uint8Array): number;
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

/**
 * Everything a column needs per master key version, computed once (on first use) and reused for
 * every value: the header, the GCM associated data (header || scope), the derived keys, the SIV
 * sealer (its S2V prefix over the header) and the blind-index key. Only the GCM cipher object is
 * created per value: each value has its own nonce.
 */
interface VersionState {
  header: Buffer;
  gcmKey?: Buffer;
  gcmAad?: Buffer;
  siv?: SivSealer;
  bidxKey?: Buffer;
  maskKey?: Buffer;
}

function gcmSeal(st: VersionState, pt: Buffer): Buffer {
  const nonce = freshNonce();
  const c = createCipheriv('aes-256-gcm', st.gcmKey as Buffer, nonce);
  c.setAAD(st.gcmAad as Buffer);
  const body = c.update(pt);
  const fin = c.final();
  return Buffer.concat([st.header, nonce, body, fin, c.getAuthTag()]);
}

function gcmOpen(st: VersionState, scope: string, stored: Buffer): Buffer {
  if (stored.length < HEADER_BYTES + NONCE_BYTES + TAG_BYTES) throw new CiphertextError('randomized ciphertext too short');
  const nonce = stored.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
  const d = createDecipheriv('aes-256-gcm', st.gcmKey as Buffer, nonce);
  // The stored header was checked against this version's header by the caller, so the cached
  // associated data is exactly header || scope of this ciphertext.
  d.setAAD(st.gcmAad as Buffer);
  d.setAuthTag(stored.subarray(stored.length - TAG_BYTES));
  try {
    const body = d.update(stored.subarray(HEADER_BYTES + NONCE_BYTES, stored.length - TAG_BYTES));
    const fin = d.final();
    return fin.length ? Buffer.concat([body, fin]) : body;
  } catch {
    throw new CiphertextError(`authentication failed for ${scope}`);
  }
}

export function columnCipher(deriver: KeyDeriver, spec: ColumnSpec): ColumnCipher {
  const entry = requireKey(deriver.ring, spec.keyName);
  const scope = scopeOf(spec);
  const sivScope = `key:${spec.keyName}`;
  const scopeBytes = Buffer.from(scope, 'utf8');
  const states = new Map<number, VersionState>();
  const state = (version: number): VersionState => {
    assertUsable(deriver.ring);
    let st = states.get(version);
    if (!st) {
      const header = encodeHeader({ mode: spec.mode, keyId: entry.id, version });
      st = { header };
      if (spec.mode === 'randomized') {
        st.gcmKey = deriver.key(spec.keyName, version, 'gcm', scope);
        st.gcmAad = Buffer.concat([header, scopeBytes]);
      } else {
        st.siv = sivSealer(deriver.key(spec.keyName, version, 'siv', sivScope), [header]);
      }
      if (spec.searchable) st.bidxKey = deriver.key(spec.keyName, version, 'bidx', scope);
      states.set(version, st);
    }
    return st;
  };
  const seal = (version: number, text: string): Buffer => {
    const st = state(version);
    const pt = Buffer.from(text, 'utf8');
    if (spec.mode === 'randomized') return gcmSeal(st, pt);
    return Buffer.concat([st.header, (st.siv as SivSealer).encrypt(pt)]);
  };
  const bidx = (version: number, text: string): Buffer => {
    const st = state(version);
    const key = st.bidxKey ?? deriver.key(spec.keyName, version, 'bidx', scope);
    return createHmac('sha256', key).update(text, 'utf8').digest().subarray(0, BLIND_INDEX_BYTES);
  };
  const maskHash = (text: string): Buffer => {
    const st = state(entry.current);
    st.maskKey ??= deriver.key(spec.keyName, entry.current, 'mask', scope);
    return createHmac('sha256', st.maskKey).update(text, 'utf8').digest();
  };
  const open = (stored: Uint8Array): Buffer => {
    const buf = Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
    const h = decodeHeader(buf);
    if (h.keyId !== entry.id) throw new CiphertextError(`ciphertext of ${scope} was written with another key`);
    if (h.mode !== spec.mode) throw new CiphertextError(`ciphertext of ${scope} has mode ${h.mode}, policy says ${spec.mode}`);
    if (!entry.versions.has(h.version)) throw new KeyringError(`key ${spec.keyName} has no version ${h.version}`);
    const st = state(h.version);
    if (h.mode === 'randomized') return gcmOpen(st, scope, buf);
    const pt = (st.siv as SivSealer).decrypt(buf.subarray(HEADER_BYTES));
    if (!pt) throw new CiphertextError(`authentication failed for ${scope}`);
    return pt;
  };
  const live = (): number[] => [entry.current, ...[...entry.versions.keys()].filter((v) => v !== entry.current)];
  return {
    spec,
    encrypt: (text) => seal(entry.current, text),
    decrypt: (stored) => open(stored).toString('utf8'),
    decryptBytes: open,
    equalityForms: (text) => live().map((v) => seal(v, text)),
    blindIndex: (text) => bidx(entry.current, text),
    blindIndexes: (text) => live().map((v) => bidx(v, text)),
    maskHash,
    versionOf: (stored) => decodeHeader(stored).version,
  };
}
