// The byte-level COPY TO path (copy-out-text.ts) against the general one (copy-text.ts with
// presentText per field): same bytes out for every input, same StatementError for every bad value.
import { describe, expect, it } from 'vitest';
import { StatementError } from '../session/pipeline.ts';
import type { CopyTransformer } from '../session/pipeline.ts';
import { columnCipher } from './encryption/column.ts';
import type { ColumnCipher, ColumnSpec } from './encryption/column.ts';
import { KeyDeriver } from './encryption/derive.ts';
import { parseKeyring } from './encryption/keyring.ts';
import { byteaFromText, byteaText, copyRowTransformer, escapeField } from './copy-text.ts';
import { textCopyOut } from './copy-out-text.ts';
import { presentText } from './results.ts';
import type { ProtectedOutput } from './results.ts';

const k1 = Buffer.alloc(32, 1).toString('base64');
const k2 = Buffer.alloc(32, 2).toString('base64');
const ring = (current: number) => parseKeyring([{ name: 'default', versions: [1, 2], current }], new Map([['default.v1', k1], ['default.v2', k2]]));
const spec = (column: string, mode: ColumnSpec['mode']): ColumnSpec => ({ schema: 'public', table: 't', column, mode, searchable: false, keyName: 'default' });

function ciphers(current: number): ColumnCipher[] {
  const d = new KeyDeriver(ring(current));
  return [columnCipher(d, spec('name', 'randomized')), columnCipher(d, spec('ssn', 'deterministic'))];
}

/** Outputs at columns 1 (randomized) and 3 (deterministic) of rows `id, name, city, ssn`. */
function outputs(c: ColumnCipher[], noBatch = false): ProtectedOutput[] {
  const strip = (x: ColumnCipher): ColumnCipher => (noBatch ? { ...x, decryptMany: undefined } : x);
  return [
    { index: 1, cipher: strip(c[0] as ColumnCipher), typeOid: 25, view: 'plaintext', column: 't.name' },
    { index: 3, cipher: strip(c[1] as ColumnCipher), typeOid: 25, view: 'plaintext', column: 't.ssn' },
  ];
}

const stored = (o: ProtectedOutput, v: string): Buffer => {
  try {
    return byteaFromText(v);
  } catch {
    throw new StatementError('XX001', `not a ciphertext of ${o.column ?? ''}`);
  }
};
const slow = (o: ProtectedOutput, v: string): string | null => presentText(o, stored(o, v));

function general(outs: ProtectedOutput[], delimiter: string): CopyTransformer {
  return copyRowTransformer((fields) => {
    for (const o of outs) {
      const v = fields[o.index];
      if (v !== null && v !== undefined) fields[o.index] = slow(o, v);
    }
    return fields;
  }, { delimiter, header: false });
}

/** All output bytes of `t` over `input` cut at `cuts`, or the error's code and message. */
function run(t: CopyTransformer, input: Buffer, cuts: number[]): string {
  const out: Uint8Array[] = [];
  try {
    t.begin?.();
    let at = 0;
    for (const c of [...cuts, input.length]) {
      out.push(...t.data(input.subarray(at, c)));
      at = c;
    }
    out.push(...(t.finish?.() ?? []));
  } catch (e) {
    if (e instanceof StatementError) return `error ${e.code} ${e.message}`;
    throw e;
  }
  return Buffer.concat(out).toString('latin1');
}

const PLAIN = ['Ann', '', 'tab\there', 'new\nline', 'cr\rx', 'back\\slash', 'pipe|and,comma', 'ünïcødé ✓', '\b\f\v', 'x'.repeat(300)];

/** COPY text the backend would send: id, name (ciphertext), city (plain, escaped), ssn (ciphertext). */
function backendRows(c: ColumnCipher[], delimiter: string, n: number): Buffer {
  const lines: string[] = [];
  for (let i = 0; i < n; i++) {
    const p = PLAIN[i % PLAIN.length] as string;
    const name = i % 7 === 3 ? null : byteaText(c[0]?.encrypt(p) as Buffer);
    const ssn = i % 5 === 4 ? null : byteaText(c[1]?.encrypt(`${p}-${i}`) as Buffer);
    lines.push([String(i), name, PLAIN[(i + 3) % PLAIN.length] as string, ssn].map((f) => escapeField(f, delimiter)).join(delimiter));
  }
  return Buffer.from(`${lines.join('\n')}\n`, 'utf8');
}

describe('COPY TO text, protected fields as bytes', () => {
  it('gives the general path\'s bytes, tab and other delimiters, rows split anywhere, batches of many rows', () => {
    for (const delimiter of ['\t', '|', ',']) {
      const c = ciphers(2);
      const input = backendRows(c, delimiter, 700);
      const want = run(general(outputs(c), delimiter), input, []);
      expect(Buffer.from(want, 'latin1').toString('utf8')).toContain('ünïcødé');
      expect(run(textCopyOut(outputs(c), delimiter, slow), input, [])).toBe(want);
      // Chunks of every size from 1 to 97 bytes, and one CopyData per row as PostgreSQL sends them.
      for (const step of [1, 7, 97]) {
        const cuts = Array.from({ length: Math.floor((input.length - 1) / step) }, (_, i) => (i + 1) * step);
        expect(run(textCopyOut(outputs(c), delimiter, slow), input, cuts)).toBe(want);
      }
      const perRow: number[] = [];
      for (let i = input.indexOf(10); i >= 0 && i < input.length - 1; i = input.indexOf(10, i + 1)) perRow.push(i + 1);
      expect(run(textCopyOut(outputs(c), delimiter, slow), input, perRow)).toBe(want);
      // Without the batch call the per-value path gives the same.
      expect(run(textCopyOut(outputs(c, true), delimiter, slow), input, perRow)).toBe(want);
    }
  });

  it('opens values of every live key version in one batch', () => {
    const old = ciphers(1);
    const cur = ciphers(2);
    const mixed = Buffer.concat([backendRows(old, '\t', 30), backendRows(cur, '\t', 30)]);
    const want = run(general(outputs(cur), '\t'), mixed, []);
    expect(want.split('\n').filter((l) => l.includes('Ann')).length).toBeGreaterThan(4);
    expect(run(textCopyOut(outputs(cur), '\t', slow), mixed, [])).toBe(want);
  });

  it('fails as the general path does on values that are not ciphertexts of the column', () => {
    const c = ciphers(2);
    const good = backendRows(c, '\t', 20).toString('utf8');
    const ct = byteaText(c[0]?.encrypt('secret') as Buffer);
    const flipped = `${ct.slice(0, -2)}${ct.endsWith('00') ? '01' : '00'}`;
    const other = byteaText(ciphers(2)[1]?.encrypt('secret') as Buffer);
    const bad = [
      `1\t${escapeField(flipped)}\tc\t\\N`, // tampered tag
      `1\tplain text\tc\t\\N`, // not bytea
      `1\t\\\\x0g\tc\t\\N`, // not hex
      `1\t\\\\x012\tc\t\\N`, // odd length
      `1\t\\\\x\tc\t\\N`, // empty
      `1\t${escapeField(other)}\tc\t\\N`, // another column's mode
      `1\t\\\\X01\tc\t\\N`, // uppercase marker
      '1', // too few fields: the general path leaves it as it is
    ];
    for (const line of bad) {
      const input = Buffer.from(`${good}${line}\n${good}`, 'utf8');
      const want = run(general(outputs(c), '\t'), input, []);
      const got = run(textCopyOut(outputs(c), '\t', slow), input, []);
      expect(got).toBe(want);
    }
    expect(run(textCopyOut(outputs(c), '\t', slow), Buffer.from(`${good}1\t${escapeField(flipped)}\tc\t\\N\n`), [])).toMatch(/^error XX001/);
  });

  it('holds no more than a batch: rows leave once BATCH_ROWS (64) are held', () => {
    const c = ciphers(2);
    const t = textCopyOut(outputs(c), '\t', slow);
    t.begin?.();
    const input = backendRows(c, '\t', 600);
    let sent = 0;
    let maxHeld = 0;
    let rows = 0;
    for (let s = 0; s < input.length;) {
      const e = input.indexOf(10, s) + 1;
      for (const b of t.data(input.subarray(s, e))) sent += Buffer.from(b).toString('latin1').split('\n').length - 1;
      rows++;
      maxHeld = Math.max(maxHeld, rows - sent);
      s = e;
    }
    for (const b of t.finish?.() ?? []) sent += Buffer.from(b).toString('latin1').split('\n').length - 1;
    expect(sent).toBe(600);
    expect(maxHeld).toBeLessThanOrEqual(64);
    expect(maxHeld).toBeGreaterThan(1);
  });
});
