// Opening a backend connection with the proxy's own credentials: TCP, optional TLS through
// SSLRequest (disable / require / verify-ca / verify-full), StartupMessage, authentication
// (SCRAM-SHA-256, md5, cleartext password, trust), then the server's ParameterStatus messages,
// BackendKeyData and ReadyForQuery.
import { connect as netConnect, isIP } from 'node:net';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import type { BackendSecrets } from '../config/load.ts';
import { md5Answer, SCRAM_MECHANISM, ScramClient } from '../auth/scram.ts';
import { decodeBackend } from '../protocol/backend.ts';
import type { BackendMessage, Fields } from '../protocol/backend.ts';
import { encodeFrontend } from '../protocol/frontend.ts';
import type { AuthResponse } from '../protocol/frontend.ts';
import { encodeStartup } from '../protocol/startup.ts';
import { SslAnswer } from '../protocol/tags.ts';
import { SocketReader } from './reader.ts';

export interface BackendConnection {
  socket: Socket;
  /** ParameterStatus messages as received (raw, ready to relay to the client). */
  parameterStatus: Buffer[];
  /** The same, decoded: name → value (server_version tells which grammar the backend speaks). */
  parameters: Map<string, string>;
  processId: number;
  secretKey: number;
  /** Bytes received after ReadyForQuery. */
  rest: Buffer;
}

/** A connection failure; `fields` when the server answered with an ErrorResponse. */
export class BackendError extends Error {
  override readonly name = 'BackendError';
  readonly fields: Fields | undefined;
  constructor(message: string, fields?: Fields) {
    super(message);
    this.fields = fields;
  }
}

const HANDSHAKE_MAX = 1 << 20;

function openTcp(b: BackendSecrets, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = netConnect({ host: b.spec.host, port: b.spec.port, noDelay: true });
    const abort = () => { s.destroy(); reject(new BackendError('timed out connecting to the backend')); };
    signal.addEventListener('abort', abort, { once: true });
    s.once('connect', () => { signal.removeEventListener('abort', abort); resolve(s); });
    s.once('error', (e) => { signal.removeEventListener('abort', abort); reject(new BackendError(`cannot connect to ${b.spec.host}:${b.spec.port}: ${e.message}`)); });
  });
}

export function tlsOptions(b: BackendSecrets, socket: Socket): ConnectionOptions {
  const mode = b.spec.tls.mode;
  const o: ConnectionOptions = { socket, rejectUnauthorized: mode !== 'require' };
  if (mode !== 'require') o.ca = b.caPem;
  if (mode === 'verify-ca') o.checkServerIdentity = () => undefined;
  if (mode === 'verify-full') {
    o.host = b.spec.host;
    if (!isIP(b.spec.host)) o.servername = b.spec.host;
  }
  if (b.clientCert) { o.cert = b.clientCert.cert; o.key = b.clientCert.key; }
  return o;
}

/** SSLRequest and TLS handshake when the backend's mode asks for it. */
export async function secure(b: BackendSecrets, socket: Socket): Promise<Socket> {
  if (b.spec.tls.mode === 'disable') return socket;
  const reader = new SocketReader(socket);
  socket.write(encodeStartup({ type: 'SSLRequest' }));
  const reply = await reader.byte();
  if (reader.detach().length > 0) throw new BackendError('backend sent data after its SSLRequest answer');
  if (reply !== SslAnswer.accept) throw new BackendError(`backend refused TLS (tls.mode ${b.spec.tls.mode})`);
  return new Promise((resolve, reject) => {
    const t = tlsConnect(tlsOptions(b, socket));
    t.once('secureConnect', () => resolve(t));
    t.once('error', (e) => reject(new BackendError(`TLS to the backend failed: ${e.message}`)));
  });
}

function message(tag: number, body: Buffer): BackendMessage {
  const d = decodeBackend(tag, body);
  if (!d.ok) throw new BackendError(`invalid message from the backend: ${d.error.message}`);
  return d.msg;
}

function answer(m: AuthResponse): Buffer { return encodeFrontend(m).finish(); }

interface AuthState { scram: ScramClient | null }

/** Answers one authentication request; returns true on AuthenticationOk. */
/**
 * A partner proxy admits us by our client certificate alone (externalProxy grant): we have no
 * password to give, so any password request means it does not take our certificate.
 */
function upstreamAuthStep(m: BackendMessage, b: BackendSecrets): void {
  if (m.type !== 'AuthenticationOk') {
    throw new BackendError(`the upstream proxy asked for a password (${m.type}); it must admit user "${b.username}" by client certificate (an AccessGrant with subject.externalProxy)`);
  }
}

function saslStart(mechanisms: string[], b: BackendSecrets, socket: Socket, st: AuthState): void {
  if (!mechanisms.includes(SCRAM_MECHANISM)) throw new BackendError(`backend offers no supported SASL mechanism (${mechanisms.join(', ')})`);
  st.scram = new ScramClient(b.password);
  socket.write(answer({ type: 'SASLInitialResponse', mechanism: SCRAM_MECHANISM, data: Buffer.from(st.scram.first()) }));
}

function saslContinue(data: Uint8Array, socket: Socket, st: AuthState): void {
  const final = st.scram?.final(Buffer.from(data).toString());
  if (!final) throw new BackendError('backend sent an invalid SCRAM server-first-message');
  socket.write(answer({ type: 'SASLResponse', data: Buffer.from(final) }));
}

function authStep(m: BackendMessage, b: BackendSecrets, socket: Socket, st: AuthState): boolean {
  switch (m.type) {
    case 'AuthenticationOk': return true;
    case 'AuthenticationCleartextPassword': socket.write(answer({ type: 'PasswordMessage', password: b.password })); return false;
    case 'AuthenticationMD5Password': socket.write(answer({ type: 'PasswordMessage', password: md5Answer(b.username, b.password, m.salt) })); return false;
    case 'AuthenticationSASL': saslStart(m.mechanisms, b, socket, st); return false;
    case 'AuthenticationSASLContinue': saslContinue(m.data, socket, st); return false;
    case 'AuthenticationSASLFinal':
      if (!st.scram?.verify(Buffer.from(m.data).toString())) throw new BackendError('backend failed SCRAM server verification');
      return false;
    default: throw new BackendError(`unsupported backend authentication request ${m.type}`);
  }
}

async function handshake(b: BackendSecrets, socket: Socket, params: Record<string, string>): Promise<BackendConnection> {
  const reader = new SocketReader(socket);
  // The partner proxy picks its backend by the database name, so the client's own is passed on.
  const database = b.upstream ? params.database ?? b.spec.database : b.spec.database;
  socket.write(encodeStartup({ type: 'StartupMessage', major: 3, minor: 0, params: { ...params, user: b.username, database } }));
  const conn: BackendConnection = { socket, parameterStatus: [], parameters: new Map(), processId: 0, secretKey: 0, rest: Buffer.alloc(0) };
  const st: AuthState = { scram: null };
  for (;;) {
    const { tag, body, raw } = await reader.message(HANDSHAKE_MAX);
    const m = message(tag, body);
    if (m.type === 'ErrorResponse') throw new BackendError(m.fields.M ?? 'backend refused the connection', m.fields);
    if (m.type === 'ReadyForQuery') { conn.rest = reader.detach(); return conn; }
    if (!m.type.startsWith('Authentication')) recordStartup(conn, m, raw);
    else if (b.upstream) upstreamAuthStep(m, b);
    else authStep(m, b, socket, st);
  }
}

/** What the backend reports before ReadyForQuery: its parameters and its cancel key. */
function recordStartup(conn: BackendConnection, m: BackendMessage, raw: Uint8Array): void {
  if (m.type === 'ParameterStatus') {
    conn.parameterStatus.push(Buffer.from(raw));
    conn.parameters.set(m.name, m.value);
  }
  else if (m.type === 'BackendKeyData') { conn.processId = m.processId; conn.secretKey = m.secretKey; }
}

/**
 * Connects and authenticates (for the partner proxy of collaborative mode: TLS with our client
 * certificate, then no password exchange); rejects with BackendError (message for the client) on refusal,
 * timeout or authentication failure. `params` are the client's startup parameters to pass on.
 */
export async function connectBackend(b: BackendSecrets, params: Record<string, string>, timeoutMs: number): Promise<BackendConnection> {
  const ac = new AbortController();
  const timer = timeoutMs > 0 ? setTimeout(() => ac.abort(), timeoutMs) : undefined;
  let socket: Socket | undefined;
  try {
    socket = await openTcp(b, ac.signal);
    const s = await secure(b, socket);
    socket = s;
    const onAbort = () => s.destroy(new BackendError('timed out during the backend handshake'));
    ac.signal.addEventListener('abort', onAbort, { once: true });
    const conn = await handshake(b, s, params);
    ac.signal.removeEventListener('abort', onAbort);
    return conn;
  } catch (e) {
    socket?.destroy();
    throw e instanceof BackendError ? e : new BackendError((e as Error).message);
  } finally {
    clearTimeout(timer);
  }
}
