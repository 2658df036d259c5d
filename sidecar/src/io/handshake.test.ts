import { describe, expect, it } from 'vitest';
import { parseCaBundle, subjectMatches } from './handshake.ts';
import { testPki } from '@clarus/testing/certs.ts';

describe('certificate subjects', () => {
  const peer = { subject: { CN: 'partner-proxy', O: 'Partner, Inc' } };

  it('matches every configured attribute, in any order', () => {
    expect(subjectMatches('CN=partner-proxy', peer)).toBe(true);
    expect(subjectMatches('O=Partner, Inc,CN=partner-proxy', peer)).toBe(true);
    expect(subjectMatches('CN=partner-proxy,O=Other', peer)).toBe(false);
    expect(subjectMatches('CN=partner', peer)).toBe(false);
    expect(subjectMatches('', peer)).toBe(false);
  });

  it('reads every certificate of a CA bundle', () => {
    const pki = testPki();
    expect(parseCaBundle(`${pki.ca.certPem}\n${pki.server.certPem}`).map((c) => c.subject)).toEqual(['CN=Clarus Test CA', 'CN=localhost']);
  });
});
