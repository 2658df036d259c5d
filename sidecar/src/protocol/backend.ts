// Backend (server → client) messages: one definition per message with its literal tag, parser and
// serializer together. BackendMessage is the union; switch on `type`.
import { decodeBody, ProtocolError, Reader, Writer } from './codec.ts';
import type { Decoded } from './codec.ts';
import { AuthCode, BackendTag } from './tags.ts';
import type { FieldDescription, FormatCode } from './types.ts';

/** What the server asks for in an 'R' message, by its AuthCode; AuthenticationOther for codes we do not speak. */
export type AuthRequest =
  | { type: 'AuthenticationOk' }
  | { type: 'AuthenticationCleartextPassword' }
  | { type: 'AuthenticationMD5Password'; salt: Uint8Array }
  | { type: 'AuthenticationSASL'; mechanisms: string[] }
  | { type: 'AuthenticationSASLContinue'; data: Uint8Array }
  | { type: 'AuthenticationSASLFinal'; data: Uint8Array }
  | { type: 'AuthenticationOther'; code: number };

/** Error and notice fields by their one-letter code (S, V, C, M, D, H, P, ...). */
export type Fields = Record<string, string>;

export interface BackendKeyData { type: 'BackendKeyData'; processId: number; secretKey: number }
export interface ParameterStatus { type: 'ParameterStatus'; name: string; value: string }
export interface ReadyForQuery { type: 'ReadyForQuery'; status: 'I' | 'T' | 'E' }
export interface RowDescription { type: 'RowDescription'; fields: FieldDescription[] }
export interface DataRow { type: 'DataRow'; values: Array<Uint8Array | null> }
export interface CommandComplete { type: 'CommandComplete'; tag: string }
export interface ErrorResponse { type: 'ErrorResponse'; fields: Fields }
export interface NoticeResponse { type: 'NoticeResponse'; fields: Fields }
export interface ParameterDescription { type: 'ParameterDescription'; types: number[] }
export interface NotificationResponse { type: 'NotificationResponse'; processId: number; channel: string; payload: string }
export interface CopyResponse { type: 'CopyInResponse' | 'CopyOutResponse' | 'CopyBothResponse'; format: FormatCode; columnFormats: FormatCode[] }
export interface CopyData { type: 'CopyData'; data: Uint8Array }
export interface FunctionCallResponse { type: 'FunctionCallResponse'; value: Uint8Array | null }
export interface NegotiateProtocolVersion { type: 'NegotiateProtocolVersion'; minor: number; unsupported: string[] }
export interface Simple {
  type: 'ParseComplete' | 'BindComplete' | 'CloseComplete' | 'NoData' | 'EmptyQueryResponse'
    | 'PortalSuspended' | 'CopyDone';
}

export type BackendMessage = AuthRequest | BackendKeyData | ParameterStatus | ReadyForQuery
  | RowDescription | DataRow | CommandComplete | ErrorResponse | NoticeResponse | ParameterDescription
  | NotificationResponse | CopyResponse | CopyData | FunctionCallResponse | NegotiateProtocolVersion | Simple;

interface Def<M extends BackendMessage> {
  types: ReadonlyArray<M['type']>;
  tag: number;
  decode(r: Reader): M;
  encode(w: Writer, m: M): void;
}

const ch = (c: string): number => c.charCodeAt(0);
type Tag = keyof typeof BackendTag;
function count(r: Reader): number {
  const n = r.int16();
  if (n < 0) throw new ProtocolError(`invalid count ${n}`);
  return n;
}
const fmt = (n: number): FormatCode => {
  if (n !== 0 && n !== 1) throw new ProtocolError(`invalid format code ${n}`);
  return n;
};

const Authentication: Def<AuthRequest> = {
  types: ['AuthenticationOk', 'AuthenticationCleartextPassword', 'AuthenticationMD5Password', 'AuthenticationSASL',
    'AuthenticationSASLContinue', 'AuthenticationSASLFinal', 'AuthenticationOther'],
  tag: BackendTag.Authentication,
  decode: (r) => {
    const code = r.int32();
    switch (code) {
      case AuthCode.Ok: return { type: 'AuthenticationOk' };
      case AuthCode.CleartextPassword: return { type: 'AuthenticationCleartextPassword' };
      case AuthCode.MD5Password: return { type: 'AuthenticationMD5Password', salt: r.bytes(4) };
      case AuthCode.SASL: {
        const mechanisms: string[] = [];
        for (let m = r.cstring(); m !== ''; m = r.cstring()) mechanisms.push(m);
        return { type: 'AuthenticationSASL', mechanisms };
      }
      case AuthCode.SASLContinue: return { type: 'AuthenticationSASLContinue', data: r.rest() };
      case AuthCode.SASLFinal: return { type: 'AuthenticationSASLFinal', data: r.rest() };
      default: r.rest(); return { type: 'AuthenticationOther', code };
    }
  },
  encode: (w, m) => {
    switch (m.type) {
      case 'AuthenticationOk': w.int32(AuthCode.Ok); break;
      case 'AuthenticationCleartextPassword': w.int32(AuthCode.CleartextPassword); break;
      case 'AuthenticationMD5Password': w.int32(AuthCode.MD5Password).bytes(m.salt); break;
      case 'AuthenticationSASL': w.int32(AuthCode.SASL); for (const x of m.mechanisms) w.cstring(x); w.int8(0); break;
      case 'AuthenticationSASLContinue': w.int32(AuthCode.SASLContinue).bytes(m.data); break;
      case 'AuthenticationSASLFinal': w.int32(AuthCode.SASLFinal).bytes(m.data); break;
      case 'AuthenticationOther': w.int32(m.code); break;
    }
  },
};

const BackendKeyDataDef: Def<BackendKeyData> = {
  types: ['BackendKeyData'], tag: BackendTag.BackendKeyData,
  decode: (r) => ({ type: 'BackendKeyData', processId: r.int32(), secretKey: r.int32() }),
  encode: (w, m) => { w.int32(m.processId).int32(m.secretKey); },
};

const ParameterStatusDef: Def<ParameterStatus> = {
  types: ['ParameterStatus'], tag: BackendTag.ParameterStatus,
  decode: (r) => ({ type: 'ParameterStatus', name: r.cstring(), value: r.cstring() }),
  encode: (w, m) => { w.cstring(m.name).cstring(m.value); },
};

const ReadyForQueryDef: Def<ReadyForQuery> = {
  types: ['ReadyForQuery'], tag: BackendTag.ReadyForQuery,
  decode: (r) => {
    const s = String.fromCharCode(r.int8());
    if (s !== 'I' && s !== 'T' && s !== 'E') throw new ProtocolError(`invalid transaction status ${s}`);
    return { type: 'ReadyForQuery', status: s };
  },
  encode: (w, m) => { w.int8(ch(m.status)); },
};

const RowDescriptionDef: Def<RowDescription> = {
  types: ['RowDescription'], tag: BackendTag.RowDescription,
  decode: (r) => {
    const n = count(r);
    const fields: FieldDescription[] = [];
    for (let i = 0; i < n; i++) {
      fields.push({ name: r.cstring(), tableOid: r.uint32(), columnAttr: r.int16(), typeOid: r.uint32(),
        typeSize: r.int16(), typeModifier: r.int32(), format: fmt(r.int16()) });
    }
    return { type: 'RowDescription', fields };
  },
  encode: (w, m) => {
    w.int16(m.fields.length);
    for (const f of m.fields) {
      w.cstring(f.name).int32(f.tableOid).int16(f.columnAttr).int32(f.typeOid).int16(f.typeSize)
        .int32(f.typeModifier).int16(f.format);
    }
  },
};

const DataRowDef: Def<DataRow> = {
  types: ['DataRow'], tag: BackendTag.DataRow,
  decode: (r) => {
    const n = count(r);
    const values = new Array<Uint8Array | null>(n);
    for (let i = 0; i < n; i++) values[i] = r.value();
    return { type: 'DataRow', values };
  },
  encode: (w, m) => { w.int16(m.values.length); for (const v of m.values) w.value(v); },
};

const CommandCompleteDef: Def<CommandComplete> = {
  types: ['CommandComplete'], tag: BackendTag.CommandComplete,
  decode: (r) => ({ type: 'CommandComplete', tag: r.cstring() }),
  encode: (w, m) => { w.cstring(m.tag); },
};

/** PostgreSQL sends the severity field first: an ErrorResponse whose body starts 'S' 'FATAL' NUL is fatal. */
export const FATAL_FIELD = Buffer.from('SFATAL\0');
/** Body bytes isFatalError looks at. */
export const FATAL_PREFIX_BYTES = FATAL_FIELD.length;

/** Whether the ErrorResponse body `buf[start .. end)` (or its first FATAL_PREFIX_BYTES) is FATAL, without decoding it. */
export function isFatalError(buf: Buffer, start: number, end: number): boolean {
  return end - start >= FATAL_PREFIX_BYTES && buf.compare(FATAL_FIELD, 0, FATAL_PREFIX_BYTES, start, start + FATAL_PREFIX_BYTES) === 0;
}

function decodeFields(r: Reader): Fields {
  const fields: Fields = {};
  for (let code = r.int8(); code !== 0; code = r.int8()) fields[String.fromCharCode(code)] = r.cstring();
  return fields;
}
function encodeFields(w: Writer, f: Fields): void {
  for (const [k, v] of Object.entries(f)) w.int8(ch(k)).cstring(v);
  w.int8(0);
}

const ErrorResponseDef: Def<ErrorResponse> = {
  types: ['ErrorResponse'], tag: BackendTag.ErrorResponse,
  decode: (r) => ({ type: 'ErrorResponse', fields: decodeFields(r) }),
  encode: (w, m) => encodeFields(w, m.fields),
};
const NoticeResponseDef: Def<NoticeResponse> = {
  types: ['NoticeResponse'], tag: BackendTag.NoticeResponse,
  decode: (r) => ({ type: 'NoticeResponse', fields: decodeFields(r) }),
  encode: (w, m) => encodeFields(w, m.fields),
};

const ParameterDescriptionDef: Def<ParameterDescription> = {
  types: ['ParameterDescription'], tag: BackendTag.ParameterDescription,
  decode: (r) => {
    const n = count(r);
    const types: number[] = [];
    for (let i = 0; i < n; i++) types.push(r.uint32());
    return { type: 'ParameterDescription', types };
  },
  encode: (w, m) => { w.int16(m.types.length); for (const t of m.types) w.int32(t); },
};

const NotificationResponseDef: Def<NotificationResponse> = {
  types: ['NotificationResponse'], tag: BackendTag.NotificationResponse,
  decode: (r) => ({ type: 'NotificationResponse', processId: r.int32(), channel: r.cstring(), payload: r.cstring() }),
  encode: (w, m) => { w.int32(m.processId).cstring(m.channel).cstring(m.payload); },
};

function copyResponse(type: CopyResponse['type'] & Tag): Def<CopyResponse> {
  return {
    types: [type], tag: BackendTag[type],
    decode: (r) => {
      const format = fmt(r.int8());
      const n = count(r);
      const columnFormats: FormatCode[] = [];
      for (let i = 0; i < n; i++) columnFormats.push(fmt(r.int16()));
      return { type, format, columnFormats };
    },
    encode: (w, m) => { w.int8(m.format).int16(m.columnFormats.length); for (const f of m.columnFormats) w.int16(f); },
  };
}

const CopyDataDef: Def<CopyData> = {
  types: ['CopyData'], tag: BackendTag.CopyData,
  decode: (r) => ({ type: 'CopyData', data: r.rest() }),
  encode: (w, m) => { w.bytes(m.data); },
};

const FunctionCallResponseDef: Def<FunctionCallResponse> = {
  types: ['FunctionCallResponse'], tag: BackendTag.FunctionCallResponse,
  decode: (r) => ({ type: 'FunctionCallResponse', value: r.value() }),
  encode: (w, m) => { w.value(m.value); },
};

const NegotiateProtocolVersionDef: Def<NegotiateProtocolVersion> = {
  types: ['NegotiateProtocolVersion'], tag: BackendTag.NegotiateProtocolVersion,
  decode: (r) => {
    const minor = r.int32();
    const n = r.int32();
    if (n < 0) throw new ProtocolError('invalid option count');
    const unsupported: string[] = [];
    for (let i = 0; i < n; i++) unsupported.push(r.cstring());
    return { type: 'NegotiateProtocolVersion', minor, unsupported };
  },
  encode: (w, m) => { w.int32(m.minor).int32(m.unsupported.length); for (const o of m.unsupported) w.cstring(o); },
};

function simple(type: Simple['type'] & Tag): Def<Simple> {
  return { types: [type], tag: BackendTag[type], decode: () => ({ type }), encode: () => undefined };
}

const defs = [Authentication, BackendKeyDataDef, ParameterStatusDef, ReadyForQueryDef, RowDescriptionDef,
  DataRowDef, CommandCompleteDef, ErrorResponseDef, NoticeResponseDef, ParameterDescriptionDef,
  NotificationResponseDef, copyResponse('CopyInResponse'), copyResponse('CopyOutResponse'),
  copyResponse('CopyBothResponse'), CopyDataDef, FunctionCallResponseDef, NegotiateProtocolVersionDef,
  simple('ParseComplete'), simple('BindComplete'), simple('CloseComplete'), simple('NoData'),
  simple('EmptyQueryResponse'), simple('PortalSuspended'), simple('CopyDone'),
] as Array<Def<BackendMessage>>;
const byTag: Array<Def<BackendMessage> | undefined> = new Array(256);
const byType = new Map<string, Def<BackendMessage>>();
for (const d of defs) { byTag[d.tag] = d; for (const t of d.types) byType.set(t, d); }

export type DecodedBackend = Decoded<BackendMessage>;

export function decodeBackend(tag: number, body: Uint8Array, start = 0, end = body.length): DecodedBackend {
  return decodeBody(byTag[tag]?.decode, 'backend', tag, new Reader(body, start, end));
}

export function encodeBackend(m: BackendMessage, w = new Writer()): Writer {
  const def = byType.get(m.type);
  if (!def) throw new Error(`no definition for ${m.type}`);
  w.begin(def.tag);
  def.encode(w, m);
  return w.end();
}

/** One ready-to-send backend message. */
export function backendBytes(m: BackendMessage): Buffer { return encodeBackend(m).finish(); }

/**
 * A DataRow body `buf[start .. end)` decoded as views of `buf` (no copy, no Reader): what a hot
 * reader of many rows uses (split fragment scans). The views keep `buf` alive; it must not be
 * reused for other bytes (a socket chunk, or the Framer's copy of a split message, is not). Null
 * when the body is malformed (as decodeBackend would fail).
 */
export function dataRowViews(buf: Buffer, start: number, end: number): Array<Buffer | null> | null {
  if (end - start < 2) return null;
  const n = buf.readInt16BE(start);
  if (n < 0) return null;
  const values = new Array<Buffer | null>(n);
  let at = start + 2;
  for (let i = 0; i < n; i++) {
    if (at + 4 > end) return null;
    const len = buf.readInt32BE(at);
    at += 4;
    if (len === -1) { values[i] = null; continue; }
    if (len < -1 || at + len > end) return null;
    values[i] = buf.subarray(at, at + len);
    at += len;
  }
  return at === end ? values : null;
}

/**
 * Many DataRow messages in one buffer (one allocation for a batch of rows, instead of a Writer
 * and a buffer per row): the same bytes as backendBytes of each row in turn.
 */
export function dataRowsBytes(rows: ReadonlyArray<ReadonlyArray<Uint8Array | null>>): Buffer {
  let size = 0;
  for (const r of rows) {
    size += 7;
    for (const v of r) size += 4 + (v === null ? 0 : v.length);
  }
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const r of rows) at = writeDataRow(out, at, r);
  return out;
}

/** One DataRow message at `out[at ..]` (room made by the caller); returns where it ends. */
function writeDataRow(out: Buffer, at: number, values: ReadonlyArray<Uint8Array | null>): number {
  const begin = at;
  out[at] = BackendTag.DataRow;
  out.writeInt16BE(values.length, at + 5);
  at += 7;
  for (const v of values) {
    if (v === null) { out.writeInt32BE(-1, at); at += 4; continue; }
    out.writeInt32BE(v.length, at);
    out.set(v, at + 4);
    at += 4 + v.length;
  }
  out.writeInt32BE(at - begin - 1, begin + 1);
  return at;
}
