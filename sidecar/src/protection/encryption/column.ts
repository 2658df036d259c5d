// Per-column encryption: what the rewriter and the result transformer call. Values are encrypted
// from their canonical text form (see canonical.ts); NULL is handled by callers (NULL stays NULL).
import { createHmac } from 'node:crypto';
import type { KeyDeriver } from './derive.ts';
import { CiphertextError, decodeHeader, encodeHeader, FORMAT_VERSION, HEADER_BYTES, MODE_CODE } from './header.ts';
import type { ModeName } from './header.ts';
import { assertUsable, KeyringError, requireKey } from './keyring.ts';
import { GCM_NONCE_BYTES, GCM_TAG_BYTES, gcmSealer } from './gcm.ts';
import type { GcmCipher } from './gcm.ts';
import { sivSealer } from './siv.ts';
import type { SivSealer } from './siv.ts';

import { BLIND_INDEX_BYTES } from './sizes.ts';

export { BLIND_INDEX_BYTES };

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
  /** encrypt() of the text's UTF-8 bytes (a COPY field as read), without a string between. */
  encryptBytes?(plaintext: Uint8Array): Buffer;
  /**
   * encryptBytes() of many plaintexts (a COPY chunk's values of this column); deterministic
   * columns compute their CTR keystreams in one native AES call.
   */
  encryptBytesMany?(plaintexts: readonly Uint8Array[]): Buffer[];
  /** The plaintext's UTF-8 bytes (what decrypt returns, before decoding to a string). */
  decryptBytes(stored: Uint8Array): Buffer;
  /**
   * decryptBytes() of many stored values (a COPY chunk's values of this column) with their AES
   * blocks computed in one native call per key version; null where decryptBytes would throw
   * (the caller asks decryptBytes again for that value's error).
   */
  decryptMany?(stored: readonly Uint8Array[]): Array<Buffer | null>;
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

/**
 * Everything a column needs per master key version, computed once (on first use) and reused for
 * every value: the header, the GCM sealer (derived key, GHASH state of the associated data
 * header || scope, and a pool of nonces with their counter blocks; gcm.ts), the SIV sealer (its
 * S2V prefix over the header) and the blind-index key.
 */
interface VersionState {
  header: Buffer;
  gcm?: GcmCipher;
  siv?: SivSealer;
  bidxKey?: Buffer;
  maskKey?: Buffer;
}

function gcmOpen(st: VersionState, scope: string, stored: Buffer): Buffer {
  if (stored.length < HEADER_BYTES + GCM_NONCE_BYTES + GCM_TAG_BYTES) throw new CiphertextError('randomized ciphertext too short');
  // The stored header was checked against this version's header by the caller, so the sealer's
  // associated data is exactly header || scope of this ciphertext.
  const pt = (st.gcm as GcmCipher).open(stored, HEADER_BYTES);
  if (!pt) throw new CiphertextError(`authentication failed for ${scope}`);
  return pt;
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
        st.gcm = gcmSealer(deriver.key(spec.keyName, version, 'gcm', scope), Buffer.concat([header, scopeBytes]));
      } else {
        st.siv = sivSealer(deriver.key(spec.keyName, version, 'siv', sivScope), [header]);
      }
      if (spec.searchable) st.bidxKey = deriver.key(spec.keyName, version, 'bidx', scope);
      states.set(version, st);
    }
    return st;
  };
  const sealBytes = (version: number, pt: Uint8Array): Buffer => {
    const st = state(version);
    if (spec.mode === 'randomized') return (st.gcm as GcmCipher).seal(st.header, pt);
    return Buffer.concat([st.header, (st.siv as SivSealer).encrypt(pt)]);
  };
  const sealMany = (pts: readonly Uint8Array[]): Buffer[] => {
    const st = state(entry.current);
    if (spec.mode === 'randomized') return pts.map((pt) => (st.gcm as GcmCipher).seal(st.header, pt));
    return (st.siv as SivSealer).encryptMany(pts).map((c) => Buffer.concat([st.header, c]));
  };
  const seal = (version: number, text: string): Buffer => sealBytes(version, Buffer.from(text, 'utf8'));
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
    const buf = Buffer.isBuffer(stored) ? stored : Buffer.from(stored.buffer, stored.byteOffset, stored.byteLength);
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
  /** The version state a stored value opens with, or null where open() would throw before decrypting. */
  const stateOf = (b: Uint8Array): VersionState | null => {
    if (b.length < HEADER_BYTES || b[0] !== FORMAT_VERSION || b[1] !== MODE_CODE[spec.mode]) return null;
    const h = decodeHeader(b);
    if (h.keyId !== entry.id || !entry.versions.has(h.version)) return null;
    return state(h.version);
  };
  const openMany = (stored: readonly Uint8Array[]): Array<Buffer | null> => {
    const out: Array<Buffer | null> = stored.map(() => null);
    // Values grouped by key version (one group but during a rotation).
    const groups = new Map<VersionState, number[]>();
    stored.forEach((b, i) => {
      const st = stateOf(b);
      if (!st) return;
      const g = groups.get(st);
      if (g) g.push(i);
      else groups.set(st, [i]);
    });
    for (const [st, idx] of groups) {
      const opened = st.gcm ? st.gcm.openMany(idx.map((i) => stored[i] as Uint8Array), HEADER_BYTES)
        : (st.siv as SivSealer).decryptMany(idx.map((i) => (stored[i] as Uint8Array).subarray(HEADER_BYTES)));
      idx.forEach((i, k) => { out[i] = opened[k] ?? null; });
    }
    return out;
  };
  const live = (): number[] => [entry.current, ...[...entry.versions.keys()].filter((v) => v !== entry.current)];
  return {
    spec,
    encrypt: (text) => seal(entry.current, text),
    encryptBytes: (pt) => sealBytes(entry.current, pt),
    encryptBytesMany: sealMany,
    decrypt: (stored) => open(stored).toString('utf8'),
    decryptBytes: open,
    decryptMany: openMany,
    equalityForms: (text) => live().map((v) => seal(v, text)),
    blindIndex: (text) => bidx(entry.current, text),
    blindIndexes: (text) => live().map((v) => bidx(v, text)),
    maskHash,
    versionOf: (stored) => decodeHeader(stored).version,
  };
}
