// The COPY batch transformer: nothing is sent before CopyDone, rows are read the same whatever the
// chunking, the header is replaced, the byte bound fails the COPY with 54000.
import { describe, expect, it } from 'vitest';
import { StatementError } from '../session/pipeline.ts';
import { batchCopyTransformer } from './copy-batch.ts';
import type { Row } from './copy-batch.ts';

const CSV = 'h1,h2\n1,"a,b"\n2,"multi\nline"\n3,\n';
const TEXT = '1\ta\\tb\n2\t\\N\n';

function run(data: string, chunks: number[], { kind, header, maxBytes }: { kind: 'csv' | 'text'; header: boolean; maxBytes?: number }): { sent: string; early: number; rows: Row[] } {
  const seen: Row[] = [];
  const t = batchCopyTransformer({ kind, delimiter: kind === 'csv' ? ',' : '\t', quote: '"', header, headerText: 'x,y' }, () => undefined,
    (rows) => { seen.push(...rows); return rows.map((r) => r.map((v) => (v === null ? null : `<${v}>`))); }, maxBytes);
  t.begin?.();
  const b = Buffer.from(data, 'utf8');
  let early = 0;
  let at = 0;
  for (const c of [...chunks, b.length]) {
    early += t.data(b.subarray(at, Math.max(at, c))).length;
    at = Math.max(at, c);
  }
  const sent = Buffer.concat(t.finish?.() ?? []).toString('utf8');
  return { sent, early, rows: seen };
}

describe('batchCopyTransformer', () => {
  it('sends nothing before CopyDone and reads the same rows at every split offset (CSV and text)', () => {
    const whole = run(CSV, [], { kind: 'csv', header: true });
    expect(whole.rows).toEqual([['1', 'a,b'], ['2', 'multi\nline'], ['3', null]]);
    expect(whole.sent).toBe('x,y\n<1>,"<a,b>"\n<2>,"<multi\nline>"\n<3>,\n');
    for (let i = 0; i <= CSV.length; i++) {
      const r = run(CSV, [i], { kind: 'csv', header: true });
      expect(r.early).toBe(0);
      expect(r.sent).toBe(whole.sent);
    }
    const text = run(TEXT, [], { kind: 'text', header: false });
    expect(text.rows).toEqual([['1', 'a\tb'], ['2', null]]);
    expect(text.sent).toBe('<1>\t<a\\tb>\n<2>\t\\N\n');
    for (let i = 0; i <= TEXT.length; i++) expect(run(TEXT, [i], { kind: 'text', header: false }).sent).toBe(text.sent);
  });

  it('fails the COPY with 54000 past the byte bound', () => {
    expect(() => run(CSV, [5], { kind: 'csv', header: true, maxBytes: 8 })).toThrow(StatementError);
    try {
      run(CSV, [5], { kind: 'csv', header: true, maxBytes: 8 });
    } catch (e) {
      expect((e as StatementError).code).toBe('54000');
    }
  });
});
