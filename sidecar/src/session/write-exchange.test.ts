// The write-back of a write that computes: one prepared statement of the proxy's own, one
// Bind/Execute per row with the row's values protected, closed at the end; the client's tag sums the
// rows the backend reported.
import { describe, expect, it } from 'vitest';
import { BATCH_ROWS, WRITE_BACK_NAME, WriteExchange } from './write-exchange.ts';
import type { WireValue } from './pipeline.ts';

const b = (s: string): Buffer => Buffer.from(s);

describe('WriteExchange', () => {
  it('prepares the write-back once and binds it per row, values through the transformer', () => {
    const x = new WriteExchange({ command: 'UPDATE', sql: 'UPDATE t SET a = $3 WHERE tableoid = $1 AND ctid = $2', paramTypes: [0, 0, 17],
      params: (v: WireValue[]) => v.map((y, i) => (i === 2 && y ? b(`enc(${Buffer.from(y).toString()})`) : y)) }, false);
    const m = x.messages([[b('1'), b('(0,1)'), b('A')], [b('1'), b('(0,2)'), null]]);
    expect(m.map((y) => y.type)).toEqual(['Close', 'Parse', 'Bind', 'Execute', 'Close', 'Bind', 'Execute', 'Close', 'Close']);
    expect(m[1]).toMatchObject({ name: WRITE_BACK_NAME, paramTypes: [0, 0, 17] });
    const bind = m[2] as Extract<(typeof m)[number], { type: 'Bind' }>;
    expect(bind.values.map((v) => (v ? Buffer.from(v).toString() : null))).toEqual(['1', '(0,1)', 'enc(A)']);
    expect((m[5] as typeof bind).values[2]).toBeNull();
  });

  it('answers the tag PostgreSQL would, and ends once', async () => {
    const x = new WriteExchange({ command: 'INSERT', sql: 'INSERT INTO t (a) VALUES ($1)', paramTypes: [] }, true);
    x.completed('INSERT 0 1');
    x.completed('INSERT 0 1');
    expect(x.tag()).toBe('INSERT 0 2');
    expect(x.end()).toBe(true);
    expect(x.end()).toBe(false);
    await x.held;
    const d = new WriteExchange({ command: 'DELETE', sql: 'DELETE FROM t WHERE ctid = $2', paramTypes: [] }, false);
    d.completed('DELETE 1');
    expect(d.tag()).toBe('DELETE 1');
  });

  it('batches by BATCH_ROWS, but sends an ON CONFLICT DO UPDATE in one batch (its duplicate keys fail within one statement)', () => {
    const rows = Array.from({ length: BATCH_ROWS * 2 + 1 }, (_, i) => [b(String(i))]);
    const binds = (oneBatch: boolean): number => new WriteExchange({ command: 'INSERT', sql: 'INSERT INTO t (a) VALUES ($1)', paramTypes: [],
      batch: 'INSERT INTO t (a) SELECT clarus_wb.clarus_wb_1 FROM unnest(CAST($1 AS int4[])) AS clarus_wb(clarus_wb_1)', ...(oneBatch ? { oneBatch } : {}) }, false)
      .messages(rows).filter((m) => m.type === 'Bind').length;
    expect(binds(false)).toBe(3);
    expect(binds(true)).toBe(1);
  });
});
