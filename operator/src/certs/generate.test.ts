import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { caBundle } from './store.ts';
import { generateCA, generateServing, inspect, rotationNeeded, verifies } from './generate.ts';

const NOW = new Date('2026-11-29T12:00:00Z');
const want = { dnsNames: ['clarus-webhook.clarus-system.svc'], ipAddresses: ['127.0.0.1'] };
const ca = generateCA('test-ca', NOW, 365);
const serving = generateServing(ca, { ...want, now: NOW, validDays: 90 });

describe('webhook certificates', () => {
  it('issues a CA and a serving certificate that node:crypto accepts and that chains to the CA', () => {
    const caX = new X509Certificate(ca.certPem);
    const leaf = new X509Certificate(serving.certPem);
    expect(caX.ca).toBe(true);
    expect(leaf.ca).toBe(false);
    expect(leaf.verify(caX.publicKey)).toBe(true);
    expect(leaf.checkHost('clarus-webhook.clarus-system.svc')).toBeTruthy();
    expect(leaf.checkIP('127.0.0.1')).toBeTruthy();
    expect(verifies(ca.certPem, serving.certPem)).toBe(true);
    expect(inspect(serving.certPem)).toMatchObject(want);
  });

  it('does not verify against another CA', () => {
    expect(verifies(generateCA('other', NOW, 1).certPem, serving.certPem)).toBe(false);
  });

  const days = (n: number): Date => new Date(NOW.getTime() + n * 24 * 3600 * 1000);
  it.each([
    ['nothing stored', {}, NOW, want, 'all'],
    ['fresh material', { ca, serving }, NOW, want, 'none'],
    ['serving expires within the renewal window', { ca, serving }, days(80), want, 'serving'],
    ['CA expires within the renewal window', { ca, serving }, days(350), want, 'all'],
    ['serving lacks a wanted name', { ca, serving }, NOW, { ...want, dnsNames: ['other.svc'] }, 'serving'],
    ['serving missing', { ca }, NOW, want, 'serving'],
  ] as const)('%s -> %s', (_n, material, now, names, scope) => {
    expect(rotationNeeded(material, { dnsNames: [...names.dnsNames], ipAddresses: [...names.ipAddresses] }, now, { renewBeforeDays: 30 })).toBe(scope);
  });

  it('keeps the previous CA in the bundle while it is valid', () => {
    const next = generateCA('next', NOW, 365);
    expect(caBundle({ ca: next, previousCaPem: ca.certPem }, NOW)).toBe(`${next.certPem}${ca.certPem}`);
    expect(caBundle({ ca: next, previousCaPem: ca.certPem }, days(400))).toBe(next.certPem);
    expect(caBundle({ ca: next }, NOW)).toBe(next.certPem);
  });
});
