import { describe, expect, it } from 'vitest';
import { chainLine, GENESIS, quickFingerprint, verifyChain } from './audit.ts';
import type { AuditEntry } from './audit.ts';
import { decideAccess } from './grants.ts';
import type { Grants } from './grants.ts';

const now = new Date('2026-11-29T12:00:00Z');
const grants: Grants = [
  { grant: 'a', datasets: ['patients'], access: 'read', view: 'masked' },
  { grant: 'b', datasets: ['visits'], access: 'readWrite', view: 'plaintext', expires: '2026-01-01T00:00:00Z' },
  { grant: 'c', datasets: ['*'], access: 'read', view: 'protected', expires: '2027-01-01T00:00:00Z' },
];

describe('access decisions', () => {
  it('no grant → 42501', () => {
    expect(decideAccess({ user: 'u', grants: [] }, ['patients'], false, now)).toMatchObject({ ok: false, code: '42501' });
  });
  it('read grant refuses writes, allows reads with the best view', () => {
    expect(decideAccess({ user: 'u', grants }, ['patients'], true, now)).toMatchObject({ ok: false, code: '42501' });
    const r = decideAccess({ user: 'u', grants }, ['patients'], false, now);
    expect(r.ok && r.views.get('patients')).toBe('masked');
  });
  it('honours expires (expired readWrite falls back to the wildcard read grant)', () => {
    expect(decideAccess({ user: 'u', grants }, ['visits'], true, now)).toMatchObject({ ok: false });
    const r = decideAccess({ user: 'u', grants }, ['visits'], false, now);
    expect(r.ok && r.views.get('visits')).toBe('protected');
    expect(decideAccess({ user: 'u', grants }, ['visits'], false, new Date('2028-01-01T00:00:00Z'))).toMatchObject({ ok: false });
    expect(decideAccess({ user: 'u', grants }, ['visits'], true, new Date('2025-06-01T00:00:00Z'))).toMatchObject({ ok: true });
  });
  it('several valid grants on a dataset: the most permissive access and the most revealing view, whatever their order', () => {
    const many: Grants = [
      { grant: 'p', datasets: ['*'], access: 'read', view: 'protected' },
      { grant: 'w', datasets: ['patients'], access: 'readWrite', view: 'masked' },
      { grant: 'x', datasets: ['patients'], access: 'readWrite', view: 'plaintext', expires: '2026-01-01T00:00:00Z' },
      { grant: 'v', datasets: ['patients', 'visits'], access: 'read', view: 'plaintext' },
    ];
    for (const order of [many, [...many].reverse()]) {
      const r = decideAccess({ user: 'u', grants: order }, ['patients', 'visits'], false, now);
      expect(r.ok && [...r.views]).toEqual([['patients', 'plaintext'], ['visits', 'plaintext']]);
      expect(decideAccess({ user: 'u', grants: order }, ['patients'], true, now)).toMatchObject({ ok: true });
      expect(decideAccess({ user: 'u', grants: order }, ['visits'], true, now)).toMatchObject({ ok: false, code: '42501' });
    }
  });
});

describe('audit hash chain', () => {
  const entry = (i: number): AuditEntry => ({ time: `t${i}`, user: 'u', datasets: ['patients'], columns: ['pat_ssn'], fingerprint: `f${i}`, outcome: 'allow' });
  const build = (n: number): string[] => {
    let prev = GENESIS;
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const l = chainLine(prev, entry(i));
      out.push(l.line);
      prev = l.hash;
    }
    return out;
  };
  it('verifies an intact chain', () => {
    expect(verifyChain(build(5))).toMatchObject({ ok: true, count: 5 });
  });
  it('detects an edited, removed or reordered line', () => {
    const lines = build(5);
    const edited = [...lines];
    edited[2] = (edited[2] as string).replace('"allow"', '"refuse"');
    expect(verifyChain(edited)).toMatchObject({ ok: false, line: 4 });
    expect(verifyChain([...lines.slice(0, 1), ...lines.slice(2)])).toMatchObject({ ok: false, line: 2 });
    expect(verifyChain([lines[1] as string, lines[0] as string])).toMatchObject({ ok: false, line: 1 });
    expect(verifyChain(['{bad'])).toMatchObject({ ok: false, line: 1 });
  });
});

describe('quick fingerprint of pass-through statements', () => {
  it('keeps the shape, drops every constant and comment', () => {
    const f = quickFingerprint("SELECT * FROM ward WHERE note = 'Zelda secret' AND n = 42 -- 123-45-6789\n");
    expect(f).toMatch(/^[0-9a-f]{16}$/);
    expect(quickFingerprint("select * from ward where note = 'other'' text' and n = 7.5e3 /* x /* y */ z */")).not.toBe(f);
    expect(quickFingerprint("SELECT * FROM ward WHERE note = 'x' AND n = 1")).toBe(quickFingerprint("SELECT  *  FROM ward WHERE note = E'y\\'z' AND n = 999 /* c */"));
    expect(quickFingerprint('SELECT $$a$$, $t$ b $t$, t1.c2 FROM t1')).toBe(quickFingerprint('SELECT $$zz$$, $t$ q $t$, t1.c2 FROM t1'));
    expect(quickFingerprint('SELECT "col 1" FROM t')).not.toBe(quickFingerprint('SELECT "col 2" FROM t'));
  });
  it('is linear on hostile input (unclosed quotes and dollar tags)', () => {
    const hostile = `SELECT ${'$a$ \' " /* '.repeat(20000)}`;
    const t = performance.now();
    quickFingerprint(hostile);
    quickFingerprint('$x$'.repeat(50000));
    expect(performance.now() - t).toBeLessThan(2000);
  });
});
