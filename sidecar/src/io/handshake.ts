// The client side of a connection until it is authenticated: SSLRequest (TLS with the configured
// certificate), GSSENCRequest (declined), CancelRequest, StartupMessage with protocol version
// negotiation, then SCRAM-SHA-256 against the configured verifiers. An unknown user runs the same
// exchange against a mock verifier, so the answer (28P01) and the work done are the same.
import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { mockVerifier, SCRAM_MECHANISM, ScramServer } from '../auth/scram.ts';
import { backendBytes } from '../protocol/backend.ts';
import { ProtocolError } from '../protocol/codec.ts';
import { errorBytes, SQLSTATE } from '../protocol/errors.ts';
import { decodeAuthResponse } from '../protocol/frontend.ts';
import type { AuthResponse } from '../protocol/frontend.ts';
import { checkVersion } from '../protocol/startup.ts';
import type { CancelRequest, StartupMessage } from '../protocol/startup.ts';
import { SslAnswer } from '../protocol/tags.ts';
import type { ProxyContext } from './context.ts';
import { SocketReader } from './reader.ts';

const AUTH_MAX = 8192;
const SSL_ACCEPT = Buffer.from([SslAnswer.accept]);
const SSL_REFUSE = Buffer.from([SslAnswer.refuse]);

export class HandshakeError extends Error {
  override readonly name = 'HandshakeError';
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.code = code;
  }
}

export type Startup =
  | { kind: 'startup'; socket: Socket; reader: SocketReader; message: StartupMessage; tls: boolean; peer: PeerCertificate | null }
  | { kind: 'cancel'; socket: Socket; request: CancelRequest };

/** A client certificate that chains to tls.clientCaFile. */
export interface PeerCertificate { subject: Record<string, string> }

/**
 * The client certificate when it was issued by one of the configured client CAs and is valid now.
 * (A TLSSocket made outside a tls.Server does not compute `authorized` itself.) Only certificates
 * issued directly by a configured CA are accepted: put intermediates in clientCaFile.
 */
function verifiedPeer(t: TLSSocket, cas: X509Certificate[]): PeerCertificate | null {
  const cert = t.getPeerX509Certificate();
  if (!cert) return null;
  const now = Date.now();
  if (now < Date.parse(cert.validFrom) || now > Date.parse(cert.validTo)) return null;
  if (!cas.some((ca) => cert.checkIssued(ca) && cert.verify(ca.publicKey))) return null;
  const c = t.getPeerCertificate();
  const subject: Record<string, string> = {};
  for (const [k, v] of Object.entries(c.subject ?? {})) subject[k] = Array.isArray(v) ? v.join(',') : String(v);
  return { subject };
}

export function parseCaBundle(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((b) => new X509Certificate(b));
}

/** Does a configured subject such as "CN=partner-proxy,O=Partner" match the certificate? */
export function subjectMatches(expected: string, peer: PeerCertificate): boolean {
  const pairs = expected.split(/,(?=\s*[A-Za-z]+=)/).map((p) => p.trim()).filter(Boolean);
  return pairs.length > 0 && pairs.every((p) => {
    const i = p.indexOf('=');
    return i > 0 && peer.subject[p.slice(0, i).trim()] === p.slice(i + 1).trim();
  });
}

async function upgrade(ctx: ProxyContext, socket: Socket): Promise<TLSSocket> {
  const secureContext = ctx.clientTls();
  if (!secureContext) throw new Error('no TLS context');
  // Client certificates are asked for when a client CA is configured, but not required: password
  // users connect without one; externalProxy users are checked against it after startup.
  const requestCert = ctx.snapshot().tls?.ca !== undefined;
  const t = new TLSSocket(socket, { isServer: true, secureContext, requestCert, rejectUnauthorized: false });
  await new Promise<void>((resolve, reject) => {
    t.once('secure', () => resolve());
    t.once('error', reject);
  });
  return t;
}

/** The client connection while startup packets are read: plaintext until an accepted SSLRequest. */
interface StartupConn { socket: Socket; reader: SocketReader; tls: boolean; peer: PeerCertificate | null }

/** Reads startup packets until a StartupMessage or a CancelRequest. */
export async function readClientStartup(ctx: ProxyContext, raw: Socket): Promise<Startup> {
  const c: StartupConn = { socket: raw, reader: new SocketReader(raw), tls: false, peer: null };
  for (;;) {
    const p = await c.reader.startup();
    if (p.type === 'CancelRequest') { c.reader.detach(); return { kind: 'cancel', socket: c.socket, request: p }; }
    if (p.type === 'GSSENCRequest' || (p.type === 'SSLRequest' && (c.tls || !ctx.clientTls()))) { c.socket.write(SSL_REFUSE); continue; }
    if (p.type === 'SSLRequest') { await startTls(ctx, c); continue; }
    return { kind: 'startup', socket: c.socket, reader: c.reader, message: p, tls: c.tls, peer: c.peer };
  }
}

/** Accepts an SSLRequest: the connection continues over TLS (with the client's certificate, if it sent one). */
async function startTls(ctx: ProxyContext, c: StartupConn): Promise<void> {
  // Bytes sent before the TLS handshake would be trusted as if encrypted (CVE-2021-23214).
  if (c.reader.detach().length > 0) throw new ProtocolError('received unencrypted data after SSL request');
  c.socket.write(SSL_ACCEPT);
  const t = await upgrade(ctx, c.socket);
  const ca = ctx.snapshot().tls?.ca;
  c.peer = ca ? verifiedPeer(t, parseCaBundle(ca)) : null;
  c.socket = t;
  c.reader = new SocketReader(t);
  c.tls = true;
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

/** The client's next message, read as the authentication answer the exchange expects. */
async function authResponse<T extends AuthResponse['type']>(reader: SocketReader, expected: T): Promise<Extract<AuthResponse, { type: T }>> {
  const m = await reader.message(AUTH_MAX);
  const d = decodeAuthResponse(expected, m.tag, m.body);
  if (!d.ok) throw d.error;
  return d.msg;
}

/**
 * Certificate authentication of an externalProxy user (a partner proxy): its TLS client
 * certificate chains to tls.clientCaFile and its subject matches the configured one.
 */
export function authenticateCertificate(ctx: ProxyContext, socket: Socket, user: string, peer: PeerCertificate | null): boolean {
  const entry = ctx.snapshot().users.get(user);
  const expected = entry?.spec.certificateSubject;
  if (!peer || !expected || !subjectMatches(expected, peer)) return false;
  socket.write(backendBytes({ type: 'AuthenticationOk' }));
  return true;
}

/** SCRAM-SHA-256 exchange; resolves true when the client proved the password. */
export async function authenticate(ctx: ProxyContext, socket: Socket, reader: SocketReader, user: string): Promise<boolean> {
  const entry = ctx.snapshot().users.get(user);
  const verifier = entry?.verifier ?? mockVerifier(user);
  const server = new ScramServer(verifier);
  socket.write(backendBytes({ type: 'AuthenticationSASL', mechanisms: [SCRAM_MECHANISM] }));
  const first = await authResponse(reader, 'SASLInitialResponse');
  if (first.mechanism !== SCRAM_MECHANISM) throw new ProtocolError('client selected an invalid SASL authentication mechanism');
  if (first.data === null) throw new ProtocolError('SASL initial response carries no client-first-message');
  const step1 = server.first(Buffer.from(first.data).toString());
  if (!step1.ok) return false;
  socket.write(backendBytes({ type: 'AuthenticationSASLContinue', data: Buffer.from(step1.data) }));
  const second = await authResponse(reader, 'SASLResponse');
  const step2 = server.final(Buffer.from(second.data).toString());
  if (!step2.ok || !entry?.verifier) return false;
  socket.write(Buffer.concat([backendBytes({ type: 'AuthenticationSASLFinal', data: Buffer.from(step2.data) }), backendBytes({ type: 'AuthenticationOk' })]));
  return true;
}

export function fatal(code: string, message: string): Buffer {
  return errorBytes({ severity: 'FATAL', code, message });
}
