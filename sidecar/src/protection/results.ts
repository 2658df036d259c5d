// Result transformer: restores what the client sees for columns that hold ciphertext, according
// to the user's view: plaintext (decrypted, declared type restored in RowDescription and in the
// value encoding), masked (decrypted then masked, shown as text), protected (the stored
// ciphertext as base64 text, never decrypted). NULL stays NULL. A stored value that is not a
// ciphertext of its column (written around the proxy, or with a key the keyring lacks) fails the
// statement with XX001 naming the column (StatementError), for every view: neither its bytes nor
// any part of them reach the client, and the session goes on. The outputs it is given are the
// plan's result directives for this user's views (access/outputs.ts), nothing else.
import type { MaskedView, View } from '@clarus/crds/types.ts';
import type { FieldDescription, ResultTransformer, WireValue } from '../session/pipeline.ts';
import { StatementError } from '../session/pipeline.ts';
import { formatAt } from '../protocol/types.ts';
import type { ColumnCipher } from './encryption/column.ts';
import { OID, textToBinary, ValueFormatError } from './encryption/canonical.ts';
import { CiphertextError, decodeHeader, HEADER_BYTES } from './encryption/header.ts';
import { KeyringError, keyNameId } from './encryption/keyring.ts';
import { maskedText } from './mask-view.ts';
import { byteaFromWire } from './wire.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

export interface ProtectedOutput {
  index: number;
  cipher: ColumnCipher;
  typeOid: number;
  view: View;
  /** `table.column`, named in errors. */
  column?: string;
  /** The column's masked-view function (mask-view.ts); the default mask without one. */
  mask?: MaskedView;
  /** How the stored value holds the ciphertext: bytea (encrypted columns), or hex text (reversible pseudonyms). */
  encoding?: 'hexText';
}

/** Shortest ciphertext per mode: header, then nonce and tag (randomized) or the SIV tag. */
const MIN_BYTES = { randomized: HEADER_BYTES + 12 + 16, deterministic: HEADER_BYTES + 16 } as const;

function corrupt(o: ProtectedOutput): StatementError {
  const name = o.column ?? `${o.cipher.spec.table}.${o.cipher.spec.column}`;
  return new StatementError(SQLSTATE.dataCorrupted, `clarus: a value stored in protected column ${name} is not a ciphertext of that column (written around the proxy, or with a key the keyring lacks)`);
}

/** Errors about one stored value become the statement's XX001; anything else is the proxy's bug. */
function storedValue<R>(o: ProtectedOutput, f: () => R): R {
  try {
    return f();
  } catch (e) {
    if (e instanceof CiphertextError || e instanceof KeyringError) throw corrupt(o);
    throw e;
  }
}

/** The protected view shows ciphertext without decrypting it: at least its header must be this column's. */
function checkStored(o: ProtectedOutput, stored: Buffer): void {
  const spec = o.cipher.spec;
  const h = decodeHeader(stored);
  if (h.keyId !== keyNameId(spec.keyName) || h.mode !== spec.mode || stored.length < MIN_BYTES[spec.mode]) throw new CiphertextError('not a ciphertext of this column');
}

/** The ciphertext a stored value holds (see ProtectedOutput.encoding). */
export function storedBytes(o: ProtectedOutput, v: Uint8Array, fmt: 0 | 1): Buffer {
  if (o.encoding !== 'hexText') return wireBytes(v, fmt);
  const text = Buffer.from(v.buffer, v.byteOffset, v.length).toString('utf8');
  if (!/^(?:[0-9a-f]{2})+$/.test(text)) throw corrupt(o);
  return Buffer.from(text, 'hex');
}

function wireBytes(v: Uint8Array, fmt: 0 | 1): Buffer {
  try {
    return byteaFromWire(v, fmt);
  } catch {
    throw new StatementError(SQLSTATE.featureNotSupported, 'clarus: protected columns are read with bytea_output = hex');
  }
}

function binaryOf(oid: number, text: string): Buffer {
  try {
    return textToBinary(oid, text);
  } catch (e) {
    if (e instanceof ValueFormatError) throw new StatementError(SQLSTATE.featureNotSupported, `clarus: ${e.message}`);
    throw e;
  }
}

/** What a client may have cached about these outputs: their positions and the types it sees. */
export function resultShape(outputs: ProtectedOutput[]): string {
  return outputs.map((o) => `${o.index}:${clientType(o)}`).join(',');
}

const SIZES: Record<number, number> = { [OID.bool]: 1, [OID.int2]: 2, [OID.int4]: 4, [OID.int8]: 8, [OID.float4]: 4, [OID.float8]: 8, [OID.date]: 4, [OID.uuid]: 16 };

function clientType(o: ProtectedOutput): number {
  return o.view === 'plaintext' ? o.typeOid : OID.text;
}

/**
 * Plaintext for the client, as text, per view (XX001 StatementError for a value that is not a
 * ciphertext); null when the masked view shows NULL.
 */
export function presentText(o: ProtectedOutput, stored: Buffer): string | null {
  return storedValue(o, () => {
    if (o.view === 'protected') {
      checkStored(o, stored);
      return stored.toString('base64');
    }
    const text = o.cipher.decrypt(stored);
    return o.view === 'masked' ? maskedText(o.mask, text, (t) => o.cipher.maskHash(t)) : text;
  });
}

export function resultTransformer(outputs: ProtectedOutput[]): ResultTransformer | undefined {
  if (outputs.length === 0) return undefined;
  return {
    fields(fields: readonly FieldDescription[]): FieldDescription[] {
      const out = fields.map((f) => ({ ...f }));
      for (const o of outputs) {
        const f = out[o.index];
        if (!f) continue;
        f.typeOid = clientType(o);
        f.typeSize = SIZES[f.typeOid] ?? -1;
        f.typeModifier = -1;
      }
      return out;
    },
    row(values: WireValue[], formats: readonly number[]): WireValue[] {
      for (const o of outputs) {
        const v = values[o.index];
        if (v === null || v === undefined) continue;
        values[o.index] = shownValue(o, v, formatAt(formats, o.index));
      }
      return values;
    },
  };
}

/** What the client sees of one stored value of `o` in format `fmt`. */
function shownValue(o: ProtectedOutput, v: Uint8Array, fmt: 0 | 1): WireValue {
  if (fmt === 0 && o.view === 'plaintext') {
    // Text format, plaintext view: the decrypted UTF-8 bytes are the text value itself (they
    // were encoded from a string when sealed), so skip decoding and re-encoding them.
    const stored = storedBytes(o, v, fmt);
    return storedValue(o, () => o.cipher.decryptBytes(stored));
  }
  const text = presentText(o, storedBytes(o, v, fmt));
  return text === null ? null : fmt === 1 ? binaryOf(clientType(o), text) : Buffer.from(text, 'utf8');
}

/** Fewer rows are decrypted one by one (decryptMany's setup costs more than it saves on a few). */
const MANY = 16;

/**
 * resultTransformer(outputs).row of many text-format rows at once, in place (a split fragment's
 * batch): the plaintext-view values of an encrypted column are decrypted together
 * (ColumnCipher.decryptMany: one native AES call per batch, not one per value); every other
 * value, and one the batch could not open (for its error), as row() would.
 */
export function rowsTransformer(outputs: ProtectedOutput[]): ((rows: WireValue[][]) => void) | undefined {
  if (outputs.length === 0) return undefined;
  return (rows) => {
    for (const o of outputs) {
      const opened = rows.length >= MANY && batchable(o) ? openedMany(o, rows) : null;
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i] as WireValue[];
        const v = row[o.index];
        if (v === null || v === undefined) continue;
        row[o.index] = opened?.[i] ?? shownValue(o, v, 0);
      }
    }
  };
}

/** Whether `o`'s shown values are its decrypted bytes, which decryptMany gives. */
const batchable = (o: ProtectedOutput): boolean => o.view === 'plaintext' && o.encoding !== 'hexText' && o.cipher.decryptMany !== undefined;

/** The values of `o` in `rows` decrypted together, by row index; undefined where not opened. */
function openedMany(o: ProtectedOutput, rows: WireValue[][]): Array<Buffer | undefined> {
  const at: number[] = [];
  const stored: Buffer[] = [];
  rows.forEach((row, i) => {
    const v = row[o.index];
    if (!v) return;
    try { stored.push(byteaFromWire(v, 0)); at.push(i); } catch { /* row() reports it */ }
  });
  const out = new Array<Buffer | undefined>(rows.length);
  let plain: Array<Buffer | null>;
  try { plain = (o.cipher.decryptMany as NonNullable<ColumnCipher['decryptMany']>)(stored); } catch { return out; }
  at.forEach((i, k) => { const p = plain[k]; if (p) out[i] = p; });
  return out;
}
