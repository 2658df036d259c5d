// The client side of a connection until it is authenticated: SSLRequest (TLS with the configured
// certificate), GSSENCRequest (declined), CancelRequest, StartupMessage with protocol version
// negotiation, then SCRAM-SHA-256 against the configured verifiers. An unknown user runs the same
// exchange against a mock verifier, so the answer (28P01) and the work done are the same.
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { mockVerifier, SCRAM_MECHANISM, ScramServer } from '../auth/scram.ts';
import { backendBytes } from '../protocol/backend.ts';
import { ProtocolError, Reader } from '../protocol/codec.ts';
import { errorBytes, SQLSTATE } from '../protocol/errors.ts';
import { checkVersion } from '../protocol/startup.ts';
import type { CancelRequest, StartupMessage } from '../protocol/startup.ts';
import type { ProxyContext } from './context.ts';
import { SocketReader } from './reader.ts';

const AUTH_MAX = 8192;

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export type Startup =
  | { kind: 'startup'; socket: Socket; reader: SocketReader; message: StartupMessage; tls: boolean }
  | { kind: 'cancel'; socket: Socket; request: CancelRequest };

async function upgrade(ctx: ProxyContext, socket: Socket): Promise<TLSSocket> {
  const secureContext = ctx.clientTls();
  if (!secureContext) throw new Error('no TLS context');
  const t = new TLSSocket(socket, { isServer: true, secureContext });
  await new Promise<void>((resolve, reject) => {
    t.once('secure', () => resolve());
    t.once('error', reject);
  });
  return t;
}

/** Reads startup packets until a StartupMessage or a CancelRequest. */
export async function readClientStartup(ctx: ProxyContext, raw: Socket): Promise<Startup> {
  let socket = raw;
  let reader = new SocketReader(socket);
  let tls = false;
  for (;;) {
    const p = await reader.startup();
    if (p.type === 'CancelRequest') { reader.detach(); return { kind: 'cancel', socket, request: p }; }
    if (p.type === 'GSSENCRequest' || (p.type === 'SSLRequest' && (tls || !ctx.clientTls()))) { socket.write('N'); continue; }
    if (p.type === 'SSLRequest') {
      // Bytes sent before the TLS handshake would be trusted as if encrypted (CVE-2021-23214).
      if (reader.detach().length > 0) throw new ProtocolError('received unencrypted data after SSL request');
      socket.write('S');
      socket = await upgrade(ctx, socket);
      reader = new SocketReader(socket);
      tls = true;
      continue;
    }
    return { kind: 'startup', socket, reader, message: p, tls };
  }
}

/** Checks version and transport; writes NegotiateProtocolVersion when needed. */
export function acceptStartup(ctx: ProxyContext, s: Extract<Startup, { kind: 'startup' }>): void {
  const v = checkVersion(s.message);
  if (v.kind === 'refuse') throw new HandshakeError(v.error.code, v.error.message);
  if (v.kind === 'negotiate') s.socket.write(backendBytes({ type: 'NegotiateProtocolVersion', minor: v.minor, unsupported: v.unsupported }));
  const tlsConf = ctx.snapshot().config.tls;
  if (tlsConf && !tlsConf.allowPlaintext && !s.tls) throw new HandshakeError(SQLSTATE.invalidAuthorization, 'this proxy accepts only TLS connections');
  if (s.message.params.replication !== undefined && s.message.params.replication !== 'false') {
    throw new HandshakeError(SQLSTATE.featureNotSupported, 'replication connections are not supported by the proxy');
  }
  if (!s.message.params.user) throw new HandshakeError(SQLSTATE.invalidAuthorization, 'no PostgreSQL user name specified in startup packet');
}

function authMessage(tag: number, body: Buffer): Reader {
  if (tag !== 0x70) throw new ProtocolError(`expected SASL response, got message type ${tag}`);
  return new Reader(body);
}

/** SCRAM-SHA-256 exchange; resolves true when the client proved the password. */
export async function authenticate(ctx: ProxyContext, socket: Socket, reader: SocketReader, user: string): Promise<boolean> {
  const entry = ctx.snapshot().users.get(user);
  const verifier = entry?.verifier ?? mockVerifier(user);
  const server = new ScramServer(verifier);
  socket.write(backendBytes({ type: 'AuthenticationSASL', mechanisms: [SCRAM_MECHANISM] }));
  const first = await reader.message(AUTH_MAX);
  const r = authMessage(first.tag, first.body);
  const mech = r.cstring();
  if (mech !== SCRAM_MECHANISM) throw new ProtocolError('client selected an invalid SASL authentication mechanism');
  const len = r.int32();
  const step1 = server.first(Buffer.from(r.bytes(len)).toString());
  if (!step1.ok) return false;
  socket.write(backendBytes({ type: 'AuthenticationSASLContinue', data: Buffer.from(step1.data) }));
  const second = await reader.message(AUTH_MAX);
  const step2 = server.final(Buffer.from(authMessage(second.tag, second.body).rest()).toString());
  if (!step2.ok || !entry?.verifier) return false;
  socket.write(Buffer.concat([backendBytes({ type: 'AuthenticationSASLFinal', data: Buffer.from(step2.data) }), backendBytes({ type: 'AuthenticationOk' })]));
  return true;
}

export function fatal(code: string, message: string): Buffer {
  return errorBytes({ severity: 'FATAL', code, message });
}
