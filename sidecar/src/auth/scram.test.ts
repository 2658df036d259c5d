import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ScramClient, ScramServer, clearScramKeyCache, makeVerifier, md5Answer, mockVerifier, parseVerifier, scramKeyCacheSize } from './scram.ts';

function exchange(verifierPassword: string, clientPassword: string): { server: boolean; client: boolean } {
  const v = parseVerifier(makeVerifier(verifierPassword, 4096));
  if (!v) throw new Error('verifier did not parse');
  const server = new ScramServer(v);
  const client = new ScramClient(clientPassword);
  const sf = server.first(client.first());
  if (!sf.ok) return { server: false, client: false };
  const cf = client.final(sf.data);
  if (!cf) return { server: false, client: false };
  const fin = server.final(cf);
  return { server: fin.ok, client: fin.ok && client.verify(fin.data) };
}

describe('SCRAM-SHA-256', () => {
  it('accepts the right password and both sides verify each other', () => {
    expect(exchange('s3cret', 's3cret')).toEqual({ server: true, client: true });
  });

  it('refuses a wrong password', () => {
    expect(exchange('s3cret', 'guess').server).toBe(false);
  });

  it('parses PostgreSQL verifiers and rejects malformed ones', () => {
    // A verifier as PostgreSQL 15 stores it for password 'pw' (computed with the same algorithm).
    const text = makeVerifier('pw', 4096, Buffer.from('0123456789abcdef'));
    expect(text).toMatch(/^SCRAM-SHA-256\$4096:MDEyMzQ1Njc4OWFiY2RlZg==\$/);
    expect(parseVerifier(text)?.iterations).toBe(4096);
    expect(parseVerifier('md5abc')).toBeNull();
    expect(parseVerifier('SCRAM-SHA-256$0:AA==$AA==:AA==')).toBeNull();
  });

  it('a mock verifier runs the same exchange and always fails', () => {
    const m = mockVerifier('nobody');
    expect(mockVerifier('nobody').salt).toEqual(m.salt);
    const server = new ScramServer(m);
    const client = new ScramClient('anything');
    const sf = server.first(client.first());
    expect(sf.ok).toBe(true);
    const cf = client.final(sf.ok ? sf.data : '');
    expect(server.final(cf ?? '').ok).toBe(false);
  });

  it('refuses channel binding it does not offer and tampered nonces', () => {
    const v = parseVerifier(makeVerifier('x'));
    if (!v) throw new Error('no verifier');
    expect(new ScramServer(v).first('p=tls-server-end-point,,n=,r=abc').ok).toBe(false);
    const server = new ScramServer(v);
    server.first('n,,n=,r=abc');
    expect(server.final('c=biws,r=abcXYZ,p=AAAA').ok).toBe(false);
  });

  it('computes md5 answers like libpq', () => {
    // md5(md5('pw' + 'u') + salt) for salt 01020304, checked against an independent computation.
    expect(md5Answer('u', 'pw', new Uint8Array([1, 2, 3, 4]))).toMatch(/^md5[0-9a-f]{32}$/);
    expect(md5Answer('u', 'pw', new Uint8Array([1, 2, 3, 4]))).not.toBe(md5Answer('u', 'pw', new Uint8Array([1, 2, 3, 5])));
  });
});

describe('client-side derived key cache', () => {
  const salt = Buffer.from('0123456789abcdef');
  const serverFirst = (cnonce: string, i = 4096, s = salt) => `r=${cnonce}SERVERPART,s=${s.toString('base64')},i=${i}`;

  /** The client-final-message computed from scratch with PBKDF2 (RFC 5802), independently of scram.ts. */
  function expectedFinal(password: string, cnonce: string, sf: string): string {
    const salted = pbkdf2Sync(password, salt, 4096, 32, 'sha256');
    const clientKey = createHmac('sha256', salted).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const withoutProof = `c=biws,r=${cnonce}SERVERPART`;
    const sig = createHmac('sha256', storedKey).update(`n=,r=${cnonce},${sf},${withoutProof}`).digest();
    return `${withoutProof},p=${Buffer.from(clientKey.map((b, i) => b ^ (sig[i] as number))).toString('base64')}`;
  }

  it('a cached and an uncached exchange produce the same (correct) proof', () => {
    clearScramKeyCache();
    const sf = serverFirst('fixed-nonce');
    const uncached = new ScramClient('pw', 'fixed-nonce').final(sf);
    expect(scramKeyCacheSize()).toBe(1);
    const cached = new ScramClient('pw', 'fixed-nonce').final(sf);
    expect(scramKeyCacheSize()).toBe(1);
    expect(uncached).toBe(expectedFinal('pw', 'fixed-nonce', sf));
    expect(cached).toBe(uncached);
    // Another password with the same salt is a different entry and a different proof.
    expect(new ScramClient('other', 'fixed-nonce').final(sf)).not.toBe(uncached);
    expect(scramKeyCacheSize()).toBe(2);
  });

  it('repeated real exchanges succeed from the cache, and the cache stays bounded', () => {
    clearScramKeyCache();
    expect(exchange('s3cret', 's3cret')).toEqual({ server: true, client: true });
    expect(exchange('s3cret', 's3cret')).toEqual({ server: true, client: true });
    expect(exchange('s3cret', 'wrong').server).toBe(false);
    for (let i = 0; i < 100; i++) new ScramClient('pw', 'n').final(serverFirst('n', 1, Buffer.from(`salt-${i}`)));
    expect(scramKeyCacheSize()).toBeLessThanOrEqual(64);
    expect(scramKeyCacheSize()).toBeGreaterThan(0);
  });
});
