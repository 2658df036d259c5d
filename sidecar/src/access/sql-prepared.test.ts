// The registry of SQL-level prepared statements: a name is believed once the backend completed its
// PREPARE; changes of other texts still unanswered make EXECUTE unsure; the same text's count at once.
import { describe, expect, it } from 'vitest';
import { changeHooks, Local, SqlPrepared } from './sql-prepared.ts';
import type { Change, SqlStatement } from './sql-prepared.ts';

const stmt = (name: string, sent = `PREPARE ${name} AS SELECT 1`): SqlStatement => ({ name, text: sent, analysis: { kind: 'pass', write: false }, sent, stale: false });

function sent(r: SqlPrepared, c: Change) {
  const h = changeHooks(r, c);
  h.open();
  return h;
}

describe('SqlPrepared', () => {
  it('believes a PREPARE once it completed, not while it is unanswered, never when it failed', () => {
    const r = new SqlPrepared();
    const a = stmt('p');
    const h = sent(r, { op: 'prepare', s: a });
    expect(r.find('p').kind).toBe('unsure');
    h.failed?.();
    expect(r.find('p').kind).toBe('absent');
    const h2 = sent(r, { op: 'prepare', s: a });
    expect(h2.complete?.('PREPARE')).toEqual([{ type: 'CommandComplete', tag: 'PREPARE' }]);
    expect(r.find('p')).toEqual({ kind: 'statement', s: a });
  });

  it('a duplicate PREPARE the backend refuses leaves the earlier statement', () => {
    const r = new SqlPrepared();
    const a = stmt('p');
    sent(r, { op: 'prepare', s: a }).complete?.('PREPARE');
    sent(r, { op: 'prepare', s: stmt('p', 'PREPARE p AS SELECT 2') }).failed?.();
    expect(r.find('p')).toEqual({ kind: 'statement', s: a });
  });

  it('DEALLOCATE forgets only once completed (a failing one in an aborted block keeps the name)', () => {
    const r = new SqlPrepared();
    sent(r, { op: 'prepare', s: stmt('p') }).complete?.('PREPARE');
    sent(r, { op: 'deallocate', name: 'p' }).failed?.();
    expect(r.find('p').kind).toBe('statement');
    sent(r, { op: 'all' }).complete?.('DEALLOCATE ALL');
    expect(r.find('p').kind).toBe('absent');
  });

  it('a protocol-level Parse of the name takes it over; DEALLOCATE ALL forgets protocol-level names too', () => {
    const r = new SqlPrepared();
    sent(r, { op: 'prepare', s: stmt('p') }).complete?.('PREPARE');
    r.protocol('p');
    r.protocol('');
    expect(r.find('p').kind).toBe('protocol');
    expect(r.find('').kind).toBe('absent');
    sent(r, { op: 'all' }).complete?.('DISCARD ALL');
    expect(r.find('p').kind).toBe('absent');
  });

  it('a name SQL PREPARE took stays SQL-level for protocol Binds until DEALLOCATE completes, whatever Parses of it say', () => {
    const r = new SqlPrepared();
    const h = sent(r, { op: 'prepare', s: stmt('p') });
    expect(r.sqlLevel('p')).toBe(true);
    h.complete?.('PREPARE');
    r.protocol('p');
    expect(r.sqlLevel('p')).toBe(true);
    sent(r, { op: 'deallocate', name: 'p' }).complete?.('DEALLOCATE');
    expect(r.sqlLevel('p')).toBe(false);
    sent(r, { op: 'prepare', s: stmt('q') }).failed?.();
    expect(r.sqlLevel('q')).toBe(false);
  });

  it('statements earlier in the same text count at once', () => {
    const r = new SqlPrepared();
    const local = new Local();
    const a = stmt('p');
    local.add({ op: 'prepare', s: a });
    expect(r.find('p', local)).toEqual({ kind: 'statement', s: a });
    local.add({ op: 'deallocate', name: 'p' });
    expect(r.find('p', local).kind).toBe('absent');
    const all = new Local();
    all.add({ op: 'all' });
    expect(r.find('q', all).kind).toBe('absent');
  });

  it('a skipped execution of a prepared PREPARE heard twice (failed, then skipped) settles each opened change once', () => {
    const r = new SqlPrepared();
    const h = changeHooks(r, { op: 'prepare', s: stmt('p') });
    h.open();
    h.failed?.();
    h.failed?.();
    expect(r.find('p').kind).toBe('absent');
    h.open();
    h.complete?.('PREPARE');
    expect(r.find('p').kind).toBe('statement');
  });

  it('after a reload names are stale; after a pass-through configuration unseen names are unknown', () => {
    const old = new SqlPrepared();
    sent(old, { op: 'prepare', s: stmt('p') }).complete?.('PREPARE');
    const next = new SqlPrepared();
    next.adopt(old);
    const f = next.find('p');
    expect(f.kind === 'statement' && f.s.stale).toBe(true);
    const blind = new SqlPrepared();
    blind.adopt('unknown');
    expect(blind.find('q').kind).toBe('unknown');
  });
});
