// Frontend (client → server) messages after startup: one definition per message, with its
// literal tag, parser and serializer together. FrontendMessage is the union; switch on `type`.
import { decodeBody, ProtocolError, Reader, Writer } from './codec.ts';
import type { Decoded } from './codec.ts';
import { FrontendTag, TargetByte } from './tags.ts';

export interface Query { type: 'Query'; sql: string }
export interface Parse { type: 'Parse'; name: string; sql: string; paramTypes: number[] }
export interface Bind {
  type: 'Bind'; portal: string; statement: string;
  paramFormats: number[]; values: Array<Uint8Array | null>; resultFormats: number[];
}
export interface Describe { type: 'Describe'; target: 'S' | 'P'; name: string }
export interface Execute { type: 'Execute'; portal: string; maxRows: number }
export interface Close { type: 'Close'; target: 'S' | 'P'; name: string }
export interface Sync { type: 'Sync' }
export interface Flush { type: 'Flush' }
export interface Terminate { type: 'Terminate' }
export interface CopyData { type: 'CopyData'; data: Uint8Array }
export interface CopyDone { type: 'CopyDone' }
export interface CopyFail { type: 'CopyFail'; message: string }
export interface FunctionCall {
  type: 'FunctionCall'; oid: number; argFormats: number[]; args: Array<Uint8Array | null>; resultFormat: number;
}
/**
 * 'p' as the tag alone decodes it: PasswordMessage, SASLInitialResponse or SASLResponse, which only
 * the auth phase can tell apart (decodeAuthResponse reads the body as the expected one).
 */
export interface AuthData { type: 'AuthData'; data: Uint8Array }
/** Answer to AuthenticationCleartextPassword or AuthenticationMD5Password (then `md5…`). */
export interface PasswordMessage { type: 'PasswordMessage'; password: string }
/** Answer to AuthenticationSASL: the chosen mechanism and its first message (null: none, length -1). */
export interface SASLInitialResponse { type: 'SASLInitialResponse'; mechanism: string; data: Uint8Array | null }
/** Answer to AuthenticationSASLContinue. */
export interface SASLResponse { type: 'SASLResponse'; data: Uint8Array }
export type AuthResponse = PasswordMessage | SASLInitialResponse | SASLResponse;

export type FrontendMessage = Query | Parse | Bind | Describe | Execute | Close | Sync | Flush
  | Terminate | CopyData | CopyDone | CopyFail | FunctionCall | AuthData | AuthResponse;

interface Def<M extends FrontendMessage> {
  type: M['type'];
  tag: number;
  decode(r: Reader): M;
  encode(w: Writer, m: M): void;
}

function target(r: Reader): 'S' | 'P' {
  const t = r.int8();
  if (t === TargetByte.S) return 'S';
  if (t === TargetByte.P) return 'P';
  throw new ProtocolError(`invalid Describe/Close target ${t}`);
}

export const QueryDef: Def<Query> = {
  type: 'Query',
  tag: FrontendTag.Query,
  decode: (r) => ({ type: 'Query', sql: r.cstring() }),
  encode: (w, m) => { w.cstring(m.sql); },
};

export const ParseDef: Def<Parse> = {
  type: 'Parse',
  tag: FrontendTag.Parse,
  decode: (r) => {
    const name = r.cstring();
    const sql = r.cstring();
    const n = r.int16();
    if (n < 0) throw new ProtocolError('invalid parameter count');
    const paramTypes: number[] = [];
    for (let i = 0; i < n; i++) paramTypes.push(r.uint32());
    return { type: 'Parse', name, sql, paramTypes };
  },
  encode: (w, m) => {
    w.cstring(m.name).cstring(m.sql).int16(m.paramTypes.length);
    for (const t of m.paramTypes) w.int32(t);
  },
};

export const BindDef: Def<Bind> = {
  type: 'Bind',
  tag: FrontendTag.Bind,
  decode: (r) => {
    const portal = r.cstring();
    const statement = r.cstring();
    const paramFormats = r.int16Array();
    const n = r.int16();
    if (n < 0) throw new ProtocolError('invalid parameter count');
    const values: Array<Uint8Array | null> = [];
    for (let i = 0; i < n; i++) values.push(r.value());
    return { type: 'Bind', portal, statement, paramFormats, values, resultFormats: r.int16Array() };
  },
  encode: (w, m) => {
    w.cstring(m.portal).cstring(m.statement).int16Array(m.paramFormats).int16(m.values.length);
    for (const v of m.values) w.value(v);
    w.int16Array(m.resultFormats);
  },
};

export const DescribeDef: Def<Describe> = {
  type: 'Describe',
  tag: FrontendTag.Describe,
  decode: (r) => ({ type: 'Describe', target: target(r), name: r.cstring() }),
  encode: (w, m) => { w.int8(TargetByte[m.target]).cstring(m.name); },
};

export const ExecuteDef: Def<Execute> = {
  type: 'Execute',
  tag: FrontendTag.Execute,
  decode: (r) => ({ type: 'Execute', portal: r.cstring(), maxRows: r.int32() }),
  encode: (w, m) => { w.cstring(m.portal).int32(m.maxRows); },
};

export const CloseDef: Def<Close> = {
  type: 'Close',
  tag: FrontendTag.Close,
  decode: (r) => ({ type: 'Close', target: target(r), name: r.cstring() }),
  encode: (w, m) => { w.int8(TargetByte[m.target]).cstring(m.name); },
};

export const SyncDef: Def<Sync> = { type: 'Sync', tag: FrontendTag.Sync, decode: () => ({ type: 'Sync' }), encode: () => undefined };
export const FlushDef: Def<Flush> = { type: 'Flush', tag: FrontendTag.Flush, decode: () => ({ type: 'Flush' }), encode: () => undefined };
export const TerminateDef: Def<Terminate> = { type: 'Terminate', tag: FrontendTag.Terminate, decode: () => ({ type: 'Terminate' }), encode: () => undefined };

export const CopyDataDef: Def<CopyData> = {
  type: 'CopyData',
  tag: FrontendTag.CopyData,
  decode: (r) => ({ type: 'CopyData', data: r.rest() }),
  encode: (w, m) => { w.bytes(m.data); },
};
export const CopyDoneDef: Def<CopyDone> = { type: 'CopyDone', tag: FrontendTag.CopyDone, decode: () => ({ type: 'CopyDone' }), encode: () => undefined };
export const CopyFailDef: Def<CopyFail> = {
  type: 'CopyFail',
  tag: FrontendTag.CopyFail,
  decode: (r) => ({ type: 'CopyFail', message: r.cstring() }),
  encode: (w, m) => { w.cstring(m.message); },
};

export const FunctionCallDef: Def<FunctionCall> = {
  type: 'FunctionCall',
  tag: FrontendTag.FunctionCall,
  decode: (r) => {
    const oid = r.uint32();
    const argFormats = r.int16Array();
    const n = r.int16();
    if (n < 0) throw new ProtocolError('invalid argument count');
    const args: Array<Uint8Array | null> = [];
    for (let i = 0; i < n; i++) args.push(r.value());
    return { type: 'FunctionCall', oid, argFormats, args, resultFormat: r.int16() };
  },
  encode: (w, m) => {
    w.int32(m.oid).int16Array(m.argFormats).int16(m.args.length);
    for (const a of m.args) w.value(a);
    w.int16(m.resultFormat);
  },
};

export const AuthDataDef: Def<AuthData> = {
  type: 'AuthData',
  tag: FrontendTag.AuthResponse,
  decode: (r) => ({ type: 'AuthData', data: r.rest() }),
  encode: (w, m) => { w.bytes(m.data); },
};

export const PasswordMessageDef: Def<PasswordMessage> = {
  type: 'PasswordMessage',
  tag: FrontendTag.AuthResponse,
  decode: (r) => ({ type: 'PasswordMessage', password: r.cstring() }),
  encode: (w, m) => { w.cstring(m.password); },
};

export const SASLInitialResponseDef: Def<SASLInitialResponse> = {
  type: 'SASLInitialResponse',
  tag: FrontendTag.AuthResponse,
  decode: (r) => ({ type: 'SASLInitialResponse', mechanism: r.cstring(), data: r.value() }),
  encode: (w, m) => { w.cstring(m.mechanism).value(m.data); },
};

export const SASLResponseDef: Def<SASLResponse> = {
  type: 'SASLResponse',
  tag: FrontendTag.AuthResponse,
  decode: (r) => ({ type: 'SASLResponse', data: r.rest() }),
  encode: (w, m) => { w.bytes(m.data); },
};

const defs = [QueryDef, ParseDef, BindDef, DescribeDef, ExecuteDef, CloseDef, SyncDef, FlushDef,
  TerminateDef, CopyDataDef, CopyDoneDef, CopyFailDef, FunctionCallDef, AuthDataDef] as Array<Def<FrontendMessage>>;
const authDefs = [PasswordMessageDef, SASLInitialResponseDef, SASLResponseDef] as Array<Def<FrontendMessage>>;
const byTag: Array<Def<FrontendMessage> | undefined> = new Array(256);
const byType = new Map<string, Def<FrontendMessage>>();
for (const d of defs) { byTag[d.tag] = d; byType.set(d.type, d); }
// The auth answers share AuthData's tag: they encode by type, and decode only through decodeAuthResponse.
for (const d of authDefs) byType.set(d.type, d);

export type { Decoded };

/** Decodes one frontend message body (without tag and length). */
export function decodeFrontend(tag: number, body: Uint8Array, start = 0, end = body.length): Decoded<FrontendMessage> {
  return decodeBody(byTag[tag]?.decode, 'frontend', tag, new Reader(body, start, end));
}

export function isFrontendTag(tag: number): boolean { return byTag[tag] !== undefined; }

/**
 * Reads a 'p' message as the answer the auth phase expects (`expected`): any other tag, or a body
 * that is not that answer, is a ProtocolError result.
 */
export function decodeAuthResponse<T extends AuthResponse['type']>(expected: T, tag: number, body: Uint8Array): Decoded<Extract<AuthResponse, { type: T }>> {
  if (tag !== FrontendTag.AuthResponse) {
    return { ok: false, error: new ProtocolError(`expected ${expected}, got message type ${tag}`) };
  }
  const def = byType.get(expected) as Def<Extract<AuthResponse, { type: T }>>;
  return decodeBody(def.decode, 'frontend', tag, new Reader(body));
}

/** Serializes a frontend message with its tag and length. */
export function encodeFrontend(m: FrontendMessage, w = new Writer()): Writer {
  const def = byType.get(m.type);
  if (!def) throw new Error(`no definition for ${m.type}`);
  w.begin(def.tag);
  def.encode(w, m);
  return w.end();
}
