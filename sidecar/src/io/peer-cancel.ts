// Cancel requests across replicas. A client's CancelRequest arrives on a new connection, which the
// Service may send to another replica than the one holding the session (ClientIP affinity helps,
// but not behind NAT or after a rescale). The receiving replica then hands the request to its
// peers: an HTTP POST to each peer's metrics listener (`/peer/cancel`), signed with a secret all
// replicas of one ClarusProxy share (HMAC-SHA256 over the body, which carries the time and a
// nonce). A peer accepts a request signed with the secret, at most MAX_SKEW_MS old, whose nonce it
// has not seen, and whose key names one of its own sessions; it then cancels like a local one.
// Peers are the addresses a DNS name resolves to (the operator's headless Service of the proxy's
// pods) or a fixed list; the request goes to every peer (each owns a disjoint set of keys), so no
// peer needs to know which replica id another has.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { request } from 'node:http';

export const PEER_CANCEL_PATH = '/peer/cancel';
const MAX_SKEW_MS = 30_000;
export const MAC_HEADER = 'x-clarus-mac';

export interface PeerCancelRequest { processId: number; secretKey: number }

interface SignedBody extends PeerCancelRequest { at: number; nonce: string }

export interface PeerConfig {
  /** A DNS name whose addresses are the peers (e.g. the headless Service), or a fixed list. */
  peers: { dns: string } | { addresses: string[] };
  /** The peers' metrics port. */
  port: number;
  /** The shared secret (at least 32 bytes). */
  secret: Buffer;
}

function mac(secret: Buffer, body: string): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}

/** The body and its MAC for one cancel request at time `now`. */
export function signCancel(secret: Buffer, r: PeerCancelRequest, now: number, nonce = randomBytes(12).toString('base64')): { body: string; mac: string } {
  const body = JSON.stringify({ processId: r.processId, secretKey: r.secretKey, at: now, nonce } satisfies SignedBody);
  return { body, mac: mac(secret, body) };
}

export type Verified = { ok: true; request: PeerCancelRequest } | { ok: false; reason: string };

/** Remembers nonces for twice the accepted skew (a replayed request is refused). */
export class NonceCache {
  private readonly seen = new Map<string, number>();
  /** True the first time a nonce is offered within its lifetime. */
  fresh(nonce: string, now: number): boolean {
    for (const [n, t] of this.seen) if (now - t > 2 * MAX_SKEW_MS) this.seen.delete(n);
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now);
    return true;
  }
}

/** A request's body and the MAC it arrived with (none if the header was missing). */
export interface Signed { body: string; mac: string | undefined }

/** Checks a received body against its MAC, its age and its nonce. */
export function verifyCancel(secret: Buffer, signed: Signed, now: number, nonces: NonceCache): Verified {
  const want = Buffer.from(mac(secret, signed.body));
  const got = Buffer.from(signed.mac ?? '');
  if (got.length !== want.length || !timingSafeEqual(got, want)) return { ok: false, reason: 'bad signature' };
  const b = parseBody(signed.body);
  if (!b) return { ok: false, reason: 'malformed body' };
  if (Math.abs(now - b.at) > MAX_SKEW_MS) return { ok: false, reason: 'too old' };
  if (!nonces.fresh(b.nonce, now)) return { ok: false, reason: 'replayed' };
  return { ok: true, request: { processId: b.processId, secretKey: b.secretKey } };
}

/** The signed body, or undefined when it is not JSON of the expected shape. */
function parseBody(body: string): SignedBody | undefined {
  let b: SignedBody;
  try {
    b = JSON.parse(body) as SignedBody;
  } catch {
    return undefined;
  }
  const wellFormed = Number.isInteger(b.processId) && Number.isInteger(b.secretKey) && typeof b.nonce === 'string' && typeof b.at === 'number';
  return wellFormed ? b : undefined;
}

/** The peers' addresses now (the DNS answer changes as pods come and go). */
export async function peerAddresses(c: PeerConfig): Promise<string[]> {
  if ('addresses' in c.peers) return c.peers.addresses;
  const all = await lookup(c.peers.dns, { all: true });
  return [...new Set(all.map((a) => a.address))];
}

function post(host: string, port: number, { body, mac: signature }: { body: string; mac: string }, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path: PEER_CANCEL_PATH, method: 'POST', timeout: timeoutMs,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), [MAC_HEADER]: signature } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Sends a cancel request to every peer (this replica too, if the name resolves to it: it finds
 * the key is not its own and ignores it; a peer never passes a request on, so nothing loops).
 * Resolves with how many peers cancelled (HTTP 202); never rejects.
 */
export async function sendToPeers(c: PeerConfig, r: PeerCancelRequest, now: number, timeoutMs: number): Promise<number> {
  let hosts: string[];
  try {
    hosts = await peerAddresses(c);
  } catch {
    return 0;
  }
  const signed = signCancel(c.secret, r, now);
  const answers = await Promise.all(hosts.map((h) => post(h, c.port, signed, timeoutMs).catch(() => 0)));
  return answers.filter((s) => s === 202).length;
}
