// Bind-time parameter transformer: encrypts parameters compared to or written into protected
// columns, adds the blind-index parameters the rewrite introduced, anonymizes parameters written
// into or compared with anonymized columns (the backend compares stored forms). Text and binary parameter formats are both accepted (decoded by the
// declared type of the column); NULL stays NULL. A Bind whose counts do not match the statement is
// a protocol violation (ProtocolError: FATAL 08P01); a value that does not fit its column's type
// fails that Bind like PostgreSQL would (StatementError: 22P02 text, 22P03 binary, 22023 format).
import type { ParamTransformer, WireValue } from '../session/pipeline.ts';
import { StatementError } from '../session/pipeline.ts';
import { ProtocolError } from '../protocol/codec.ts';
import type { ParamRole, ProtectedRef } from '../rewrite/context.ts';
import type { ColumnCipher } from './encryption/column.ts';
import { anonymizeText } from './anonymize-write.ts';
import { writeKeys } from './anonymization/keys.ts';
import { assignedText, binaryToText, canonicalText, OID, textToBinary, ValueFormatError, ValueTooLongError } from './encryption/canonical.ts';
import { byteaArrayToWire, byteaToWire } from './wire.ts';
import { ARRAY_OF, arrayElements, binaryArrayElements, byteaArrayWithNulls, textArrayWithNulls } from './array-text.ts';
import { SQLSTATE } from '../protocol/sqlstate.ts';

/** The executor's column ciphers (with keys). */
type CipherFor = (ref: ProtectedRef) => ColumnCipher;

const BYTEA = 17;
const BYTEA_ARRAY = 1001;

const TEXT_ARRAY = 1009;

export function paramTypeFor(role: ParamRole | undefined, client: number): number {
  if (!role || role.kind === 'anonymize') return client;
  if (role.kind === 'anonymizeArray') return TEXT_ARRAY;
  return role.kind === 'equalityAny' || role.kind === 'blindIndexAny' || role.kind === 'encryptArray' ? BYTEA_ARRAY : BYTEA;
}

export function clientTypeFor(role: ParamRole | undefined): number {
  if (!role) return 0;
  if (role.kind === 'encryptArray') return ARRAY_OF[role.ref.column.typeOid] ?? ARRAY_OF[OID.text] as number;
  if (role.kind === 'anonymizeArray') return ARRAY_OF[role.column.typeOid] ?? ARRAY_OF[OID.text] as number;
  return role.kind === 'anonymize' ? role.column.typeOid : role.ref.column.typeOid;
}

/** The elements of an array parameter (text or binary format) as texts of the column's type. */
function arrayTexts(oid: number, v: Uint8Array, binary: boolean): Array<string | null> {
  const texts = binary
    ? binaryArrayElements(Buffer.from(v))?.map((e) => (e === null ? null : binaryToText(oid, e)))
    : arrayElements(Buffer.from(v).toString('utf8'));
  if (!texts) throw new ValueFormatError('malformed array literal');
  return texts;
}

/** Each element of an array parameter encrypted (a searchable column's as blind index || ciphertext). */
function transformArray(ref: ProtectedRef, v: Uint8Array, binary: boolean, cipher: CipherFor): WireValue {
  const oid = ref.column.typeOid;
  const texts = arrayTexts(oid, v, binary);
  const c = cipher(ref);
  const out = texts.map((t) => {
    if (t === null) return null;
    const canon = assignedText(oid, ref.column.typmod, t);
    return ref.column.protection.searchable ? Buffer.concat([c.blindIndex(canon), c.encrypt(canon)]) : c.encrypt(canon);
  });
  return byteaArrayWithNulls(out, binary ? 1 : 0);
}

function declaredOid(role: ParamRole): number {
  return role.kind === 'anonymize' || role.kind === 'anonymizeArray' ? role.column.typeOid : role.ref.column.typeOid;
}

/** Each element of an array parameter anonymized as one value would be; sent as text[] (the rewrite casts it back). */
function anonymizeArray(role: Extract<ParamRole, { kind: 'anonymizeArray' }>, v: Uint8Array, binary: boolean, cipher: CipherFor): WireValue {
  const oid = role.column.typeOid;
  const texts = arrayTexts(oid, v, binary);
  const spec = role.column.protection.kind === 'anonymize' ? role.column.protection.spec : {};
  const out = texts.map((t) => {
    if (t === null) return null;
    const a = anonymizeText(spec, canonicalText(oid, t), oid, writeKeys(cipher));
    // Never send the value itself: one the declared anonymization cannot handle fails the Bind.
    if (a === undefined) throw new ValueFormatError(`value for ${role.table.table}.${role.column.name} cannot be anonymized as declared`);
    return a;
  });
  return textArrayWithNulls(out, binary ? 1 : 0);
}

function decode(role: ParamRole, v: Uint8Array, binary: boolean): string {
  const oid = declaredOid(role);
  const text = binary ? binaryToText(oid, Buffer.from(v)) : Buffer.from(v).toString('utf8');
  // A value written into the column: its declared length applies, as to PostgreSQL's assignment.
  return 'assign' in role && role.assign ? assignedText(oid, role.ref.column.typmod, text) : canonicalText(oid, text);
}

/** One parameter, read and sent in format `fmt` (the client's format code is kept). */
function transformOne(role: ParamRole, v: Uint8Array, fmt: 0 | 1, cipher: CipherFor): WireValue {
  if (role.kind === 'encryptArray') return transformArray(role.ref, v, fmt === 1, cipher);
  if (role.kind === 'anonymizeArray') return anonymizeArray(role, v, fmt === 1, cipher);
  const text = decode(role, v, fmt === 1);
  switch (role.kind) {
    case 'encrypt': return byteaToWire(cipher(role.ref).encrypt(text), fmt);
    case 'encryptIndexed': return byteaToWire(indexedForm(cipher(role.ref), text), fmt);
    case 'equalityAny': return byteaArrayToWire(cipher(role.ref).equalityForms(text), fmt);
    case 'blindIndexAny': return byteaArrayToWire(cipher(role.ref).blindIndexes(text), fmt);
    case 'anonymize': return anonymizeOne(role, text, fmt, cipher);
  }
}

/** The stored form of a searchable column: blind index, then ciphertext. */
function indexedForm(c: ColumnCipher, text: string): Buffer {
  return Buffer.concat([c.blindIndex(text), c.encrypt(text)]);
}

function anonymizeOne(role: Extract<ParamRole, { kind: 'anonymize' }>, text: string, fmt: 0 | 1, cipher: CipherFor): WireValue {
  const out = anonymizeText(role.column.protection.kind === 'anonymize' ? role.column.protection.spec : {}, text, role.column.typeOid, writeKeys(cipher));
  // Never send the value itself: one the declared anonymization cannot handle fails the Bind.
  if (out === undefined) throw new ValueFormatError(`value for ${role.table.table}.${role.column.name} cannot be anonymized as declared`);
  if (out === null) return null;
  return fmt === 1 ? textToBinary(role.column.typeOid, out) : Buffer.from(out, 'utf8');
}

/** Byte length of the binary format of the fixed-size types a protected column may declare. */
const BINARY_SIZE: Record<number, number> = { [OID.bool]: 1, [OID.int2]: 2, [OID.int4]: 4, [OID.int8]: 8, [OID.float4]: 4, [OID.float8]: 8, [OID.date]: 4, [OID.uuid]: 16 };

/** The Bind's counts against the statement's: PostgreSQL's checks, as protocol violations. */
function checkCounts(values: readonly WireValue[], formats: readonly number[], expected: number): void {
  if (values.length !== expected) throw new ProtocolError(`bind message supplies ${values.length} parameters, but prepared statement requires ${expected}`);
  if (formats.length > 1 && formats.length !== values.length) throw new ProtocolError(`bind message has ${formats.length} parameter formats but ${values.length} parameters`);
}

/** Parameter `n` (1-based) of a Bind, with its format code as the client sent it. */
interface BoundValue { role: ParamRole; v: Uint8Array; n: number; code: number }

function transformChecked({ role, v, n, code }: BoundValue, cipher: CipherFor): WireValue {
  if (code !== 0 && code !== 1) throw new StatementError(SQLSTATE.invalidParameterValue, `unsupported format code: ${code}`);
  const binary = code === 1;
  if (binary && !binarySizeFits(role, v)) throw new StatementError(SQLSTATE.invalidBinaryRepresentation, `incorrect binary data format in bind parameter ${n}`);
  try {
    return transformOne(role, v, code as 0 | 1, cipher);
  } catch (e) {
    throw bindError(e, binary, n);
  }
}

/** Whether a binary value has the size of its declared fixed-size type (any size for other types and arrays). */
function binarySizeFits(role: ParamRole, v: Uint8Array): boolean {
  const size = role.kind === 'encryptArray' || role.kind === 'anonymizeArray' ? undefined : BINARY_SIZE[declaredOid(role)];
  return size === undefined || v.length === size;
}

/** What a failed parameter `n` fails the Bind with: 22001 too long, 22P03 bad binary, 22P02 bad text; other errors as they are. */
function bindError(e: unknown, binary: boolean, n: number): unknown {
  if (e instanceof ValueTooLongError) return new StatementError(SQLSTATE.stringDataRightTruncation, e.message);
  if (!(e instanceof ValueFormatError || e instanceof RangeError)) return e;
  return binary ? new StatementError(SQLSTATE.invalidBinaryRepresentation, `incorrect binary data format in bind parameter ${n}`) : new StatementError(SQLSTATE.invalidTextRepresentation, e.message);
}

/**
 * `count` is the number of parameters of the rewritten statement, `supplied` the number the client's
 * statement has (what its Binds supply: it may declare more types than it uses); each keeps the
 * client's format code.
 */
export function paramTransformer(roles: Map<number, ParamRole>, count: number, cipher: CipherFor, supplied = count): ParamTransformer {
  // The transformer lives as long as the prepared statement: each parameter's column cipher is
  // looked up on its first use and kept, not resolved again at every Bind.
  const ciphers = new Map<ProtectedRef, ColumnCipher>();
  const cached: CipherFor = (ref) => {
    let c = ciphers.get(ref);
    if (!c) {
      c = cipher(ref);
      ciphers.set(ref, c);
    }
    return c;
  };
  return (values, formats) => {
    checkCounts(values, formats, supplied);
    const out: WireValue[] = [];
    for (let n = 1; n <= count; n++) {
      const role = roles.get(n);
      const v = values[n - 1] ?? null;
      if (!role || v === null) {
        out.push(v);
        continue;
      }
      const code = formats.length === 0 ? 0 : formats.length === 1 ? formats[0] as number : formats[n - 1] as number;
      out.push(transformChecked({ role, v, n, code }, cached));
    }
    return out;
  };
}
