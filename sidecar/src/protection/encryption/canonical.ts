// Canonical text forms and the binary wire codec for the declared (client-facing) types of
// protected columns. Values are encrypted from their canonical text so that `42`, `'42'` and a
// binary int4 parameter all produce the same deterministic ciphertext and blind index.

export const OID = {
  bool: 16, bytea: 17, int8: 20, int2: 21, int4: 23, text: 25, float4: 700, float8: 701,
  bpchar: 1042, varchar: 1043, date: 1082, timestamp: 1114, timestamptz: 1184, numeric: 1700, uuid: 2950,
} as const;

const ALIASES: Record<string, keyof typeof OID> = {
  boolean: 'bool', bigint: 'int8', smallint: 'int2', integer: 'int4', int: 'int4', real: 'float4',
  'double precision': 'float8', character: 'bpchar', char: 'bpchar', 'character varying': 'varchar',
  decimal: 'numeric', serial: 'int4', bigserial: 'int8', smallserial: 'int2',
};

/** OID of a declared type name as it appears in CREATE TABLE (pg_catalog names or SQL spellings). */
export function typeOid(name: string): number | null {
  const n = name.toLowerCase().replace(/^pg_catalog\./, '');
  const key = (n in OID ? n : ALIASES[n]) as keyof typeof OID | undefined;
  return key ? OID[key] : null;
}

export class ValueFormatError extends Error {}

/** A value longer than its column's declared character varying(n) / character(n) (22001). */
export class ValueTooLongError extends ValueFormatError {}

/**
 * PostgreSQL's assignment to `character varying(n)` / `character(n)` (typmod n + 4): a value longer
 * than n characters is an error, unless what is beyond n is spaces, which are cut. Values of other
 * types, and columns declared without a length, are returned as they are. (`character(n)` values
 * are not padded with spaces: the proxy stores what the client wrote.)
 */
export function fitDeclaredLength(oid: number, typmod: number | undefined, text: string): string {
  if ((oid !== OID.varchar && oid !== OID.bpchar) || typmod === undefined || typmod < 4) return text;
  const n = typmod - 4;
  const chars = [...text];
  if (chars.length <= n) return text;
  if (chars.slice(n).every((c) => c === ' ')) return chars.slice(0, n).join('');
  throw new ValueTooLongError(`value too long for type ${oid === OID.varchar ? 'character varying' : 'character'}(${n})`);
}

const INT_OIDS = new Set<number>([OID.int2, OID.int4, OID.int8]);

/** Types whose canonical text is the text without surrounding space. */
const TRIMMED_OIDS = new Set<number>([OID.numeric, OID.float4, OID.float8, OID.date]);

export function canonicalText(oid: number, text: string): string {
  if (INT_OIDS.has(oid)) return canonicalInt(text);
  if (oid === OID.bool) return canonicalBool(text);
  if (oid === OID.uuid) return text.trim().toLowerCase();
  return TRIMMED_OIDS.has(oid) ? text.trim() : text;
}

function canonicalInt(text: string): string {
  const t = text.trim();
  if (!/^[+-]?\d+$/.test(t)) throw new ValueFormatError(`invalid input syntax for type integer: "${text}"`);
  return BigInt(t).toString();
}

function canonicalBool(text: string): string {
  const t = text.trim().toLowerCase();
  if (['t', 'true', 'yes', 'on', '1', 'y'].includes(t)) return 't';
  if (['f', 'false', 'no', 'off', '0', 'n'].includes(t)) return 'f';
  throw new ValueFormatError(`invalid input syntax for type boolean: "${text}"`);
}

/** The canonical text of a value assigned to a column of this declared type (its length applies). */
export function assignedText(oid: number, typmod: number | undefined, text: string): string {
  return canonicalText(oid, fitDeclaredLength(oid, typmod, text));
}

function dateFromDays(days: number): string {
  const ms = Date.UTC(2000, 0, 1) + days * 86_400_000;
  return new Date(ms).toISOString().slice(0, 10);
}

function daysFromDate(text: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text.trim());
  if (!m) throw new ValueFormatError(`binary encoding of date needs YYYY-MM-DD, got "${text}"`);
  return Math.round((Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])) - Date.UTC(2000, 0, 1)) / 86_400_000);
}

function unsupportedBinary(oid: number): ValueFormatError {
  return new ValueFormatError(`binary format of type ${oid} is not supported for protected columns; use text format`);
}

/** The character types, whose binary format is their UTF-8 text. */
const CHAR_OIDS = new Set<number>([OID.text, OID.varchar, OID.bpchar]);

/** Binary wire format → text, for the types a protected column may declare. */
export function binaryToText(oid: number, b: Buffer): string {
  switch (oid) {
    case OID.bool: return b[0] ? 't' : 'f';
    case OID.int2: return String(b.readInt16BE(0));
    case OID.int4: return String(b.readInt32BE(0));
    case OID.int8: return b.readBigInt64BE(0).toString();
    case OID.float4: return String(b.readFloatBE(0));
    case OID.float8: return String(b.readDoubleBE(0));
    case OID.date: return dateFromDays(b.readInt32BE(0));
    case OID.uuid: return formatUuid(b.toString('hex'));
    default: return charText(oid, b);
  }
}

/** A character type's binary format is its UTF-8 text; any other type is not supported. */
function charText(oid: number, b: Buffer): string {
  if (!CHAR_OIDS.has(oid)) throw unsupportedBinary(oid);
  return b.toString('utf8');
}

function formatUuid(hex: string): string {
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

function fixed(size: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(size);
  write(b);
  return b;
}

/** Text → binary wire format (the inverse of binaryToText), for results requested in binary. */
export function textToBinary(oid: number, text: string): Buffer {
  switch (oid) {
    case OID.bool: return Buffer.from([text === 't' ? 1 : 0]);
    case OID.int2: return fixed(2, (b) => b.writeInt16BE(Number(text)));
    case OID.int4: return fixed(4, (b) => b.writeInt32BE(Number(text)));
    case OID.int8: return fixed(8, (b) => b.writeBigInt64BE(BigInt(text)));
    case OID.float4: return fixed(4, (b) => b.writeFloatBE(Number(text)));
    case OID.float8: return fixed(8, (b) => b.writeDoubleBE(Number(text)));
    case OID.date: return fixed(4, (b) => b.writeInt32BE(daysFromDate(text)));
    case OID.uuid: return Buffer.from(text.replace(/-/g, ''), 'hex');
    default: return charBytes(oid, text);
  }
}

function charBytes(oid: number, text: string): Buffer {
  if (!CHAR_OIDS.has(oid)) throw unsupportedBinary(oid);
  return Buffer.from(text, 'utf8');
}
