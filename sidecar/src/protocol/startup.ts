// Untagged startup packets: StartupMessage, SSLRequest, GSSENCRequest, CancelRequest. They carry
// a length and a 32-bit code instead of a tag byte.
import { ProtocolError, Reader, Writer } from './codec.ts';
import { SQLSTATE } from './sqlstate.ts';

export const PROTOCOL_3_0 = 196608;
export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
/** PostgreSQL's own limit for a startup packet. */
export const MAX_STARTUP_PACKET = 10_000;

export interface StartupMessage { type: 'StartupMessage'; major: number; minor: number; params: Record<string, string> }
export interface SSLRequest { type: 'SSLRequest' }
export interface GSSENCRequest { type: 'GSSENCRequest' }
export interface CancelRequest { type: 'CancelRequest'; processId: number; secretKey: number }
export type StartupPacket = StartupMessage | SSLRequest | GSSENCRequest | CancelRequest;

export type StartupFrame =
  | { kind: 'incomplete' }
  | { kind: 'packet'; packet: StartupPacket; length: number }
  | { kind: 'error'; error: ProtocolError };

/** Reads one startup packet from the start of `buf` (which may hold more bytes after it). */
export function readStartup(buf: Uint8Array): StartupFrame {
  if (buf.length < 4) return { kind: 'incomplete' };
  const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength).getInt32(0);
  if (len < 8 || len > MAX_STARTUP_PACKET) return { kind: 'error', error: new ProtocolError(`invalid length of startup packet: ${len}`) };
  if (buf.length < len) return { kind: 'incomplete' };
  try {
    return { kind: 'packet', packet: decodeStartup(new Reader(buf, 4, len)), length: len };
  } catch (e) {
    if (e instanceof ProtocolError) return { kind: 'error', error: e };
    throw e;
  }
}

function decodeStartup(r: Reader): StartupPacket {
  const code = r.int32();
  if (code === SSL_REQUEST_CODE) { r.done(); return { type: 'SSLRequest' }; }
  if (code === GSSENC_REQUEST_CODE) { r.done(); return { type: 'GSSENCRequest' }; }
  if (code === CANCEL_REQUEST_CODE) {
    const m: CancelRequest = { type: 'CancelRequest', processId: r.int32(), secretKey: r.int32() };
    r.done();
    return m;
  }
  const params: Record<string, string> = {};
  for (let name = r.cstring(); name !== ''; name = r.cstring()) params[name] = r.cstring();
  r.done();
  return { type: 'StartupMessage', major: code >>> 16, minor: code & 0xffff, params };
}

export function encodeStartup(p: StartupPacket): Buffer {
  const w = new Writer().begin(null);
  switch (p.type) {
    case 'SSLRequest': w.int32(SSL_REQUEST_CODE); break;
    case 'GSSENCRequest': w.int32(GSSENC_REQUEST_CODE); break;
    case 'CancelRequest': w.int32(CANCEL_REQUEST_CODE).int32(p.processId).int32(p.secretKey); break;
    case 'StartupMessage':
      w.int32((p.major << 16) | p.minor);
      for (const [k, v] of Object.entries(p.params)) w.cstring(k).cstring(v);
      w.int8(0);
      break;
  }
  return w.end().finish();
}

/**
 * What to do with a StartupMessage's version: 3.0 is spoken; 3.x with x > 0 gets
 * NegotiateProtocolVersion (we speak 3.0, and `_pq_.` options are not supported); anything else
 * is refused with 0A000 as PostgreSQL does.
 */
export type VersionCheck =
  | { kind: 'ok' }
  | { kind: 'negotiate'; minor: number; unsupported: string[] }
  | { kind: 'refuse'; error: ProtocolError };

export function checkVersion(m: StartupMessage): VersionCheck {
  const unsupported = Object.keys(m.params).filter((k) => k.startsWith('_pq_.'));
  if (m.major === 3 && m.minor === 0 && unsupported.length === 0) return { kind: 'ok' };
  if (m.major === 3) return { kind: 'negotiate', minor: 0, unsupported };
  return {
    kind: 'refuse',
    error: new ProtocolError(`unsupported frontend protocol ${m.major}.${m.minor}: server supports 3.0 to 3.0`, SQLSTATE.featureNotSupported),
  };
}
