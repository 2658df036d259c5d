import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { peerConfig } from '../index.ts';
import { NonceCache, signCancel, verifyCancel } from './peer-cancel.ts';

const secret = randomBytes(32);
const req = { processId: 1234, secretKey: -99 };

describe('peer cancel signatures', () => {
  it('accepts a fresh signed request once, and refuses forged, old, future, replayed and malformed ones', () => {
    const nonces = new NonceCache();
    const now = 1_000_000;
    const ok = signCancel(secret, req, now);
    expect(verifyCancel(secret, ok, now + 10, nonces)).toEqual({ ok: true, request: req });
    expect(verifyCancel(secret, ok, now + 20, nonces)).toEqual({ ok: false, reason: 'replayed' });
    const forged = signCancel(randomBytes(32), req, now);
    expect(verifyCancel(secret, forged, now, nonces)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyCancel(secret, { body: ok.body.replace('1234', '1235'), mac: ok.mac }, now, nonces)).toEqual({ ok: false, reason: 'bad signature' });
    expect(verifyCancel(secret, { body: ok.body, mac: undefined }, now, nonces)).toEqual({ ok: false, reason: 'bad signature' });
    const old = signCancel(secret, req, now - 31_000);
    expect(verifyCancel(secret, old, now, nonces)).toEqual({ ok: false, reason: 'too old' });
    const future = signCancel(secret, req, now + 31_000);
    expect(verifyCancel(secret, future, now, nonces)).toEqual({ ok: false, reason: 'too old' });
    expect(verifyCancel(secret, { body: 'not json', mac: macOf('not json') }, now, nonces)).toEqual({ ok: false, reason: 'malformed body' });
    expect(verifyCancel(secret, { body: '{"processId":"x"}', mac: macOf('{"processId":"x"}') }, now, nonces)).toEqual({ ok: false, reason: 'malformed body' });
  });
  it('parses --peers, --peer-port and the secret, refusing what is incomplete', () => {
    expect(peerConfig(undefined, undefined, undefined)).toBeUndefined();
    expect(peerConfig('dns:proxy-peers.ns.svc', '9187', secret)).toEqual({ peers: { dns: 'proxy-peers.ns.svc' }, port: 9187, secret });
    expect(peerConfig('10.0.0.1, 10.0.0.2', '9187', secret)?.peers).toEqual({ addresses: ['10.0.0.1', '10.0.0.2'] });
    expect(() => peerConfig('dns:x', '9187', randomBytes(8))).toThrow(/32 bytes/);
    expect(() => peerConfig('dns:x', 'abc', secret)).toThrow(/peer-port/);
    expect(() => peerConfig('dns:', '9187', secret)).toThrow(/--peers/);
  });
});

/** A correct MAC over any body (so only the body's parse can refuse it). */
function macOf(body: string): string {
  return createHmac('sha256', secret).update(body).digest('base64');
}
