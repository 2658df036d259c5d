// Class 11 — server-side cursors over protected tables (issue 11): DECLARE … CURSOR FOR SELECT is
// analysed like its SELECT and FETCHed rows are decrypted / masked per the declaring user's view.
// Attacks: a canary in the cursor's query (must reach the backend encrypted), a masked reader
// FETCHing (never the writer's plaintext), a cursor name reused for an unprotected query (never
// decrypted as if protected, never the protected one's view), case tricks on the name, FETCH
// through the extended protocol, cursors surviving COMMIT (WITH HOLD), and writes through cursors.
import { adversarialSuite, REFUSE_ANY, REFUSE_UNSUPPORTED } from './harness.ts';
import type { Outcome } from './harness.ts';
import { wire } from './raw.ts';

const { attack } = adversarialSuite();

const rowsAre = (expected: unknown[]) => (o: Outcome): string | null =>
  (JSON.stringify(o.rows) === JSON.stringify(expected) ? null : `FETCH returned ${JSON.stringify(o.rows)} instead of ${JSON.stringify(expected)}`);

attack('writer: DECLARE … WHERE ssn = <canary> (searchable), FETCH decrypts', async (t) => {
  const s = t.secret();
  const ssn = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, ssn) VALUES (1200, '${s}', '${ssn}')`, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: `DECLARE c1 NO SCROLL CURSOR FOR SELECT id, name, ssn, note FROM patient WHERE ssn = '${ssn}'`, expect: 'ok' });
  await t.step({ user: 'writer', sql: 'FETCH FORWARD 10 FROM c1', expect: 'ok', check: rowsAre([{ id: 1200, name: s, ssn, note: null }]) });
  await t.step({ user: 'writer', sql: 'CLOSE c1', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'COMMIT', expect: 'ok' });
});

attack('reader (masked view): FETCH from a cursor over patient shows masked values only', async (t) => {
  const s = t.secret();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name, note) VALUES (1201, '${s}', 'n')`, expect: 'ok' });
  await t.step({ user: 'reader', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'reader', sql: 'DECLARE c2 CURSOR FOR SELECT name, note FROM patient WHERE id = 1201', expect: 'ok' });
  await t.step({ user: 'reader', sql: 'FETCH ALL FROM c2', expect: 'ok', check: rowsAre([{ name: `****${s.slice(-4)}`, note: 'n' }]) });
  await t.step({ user: 'reader', sql: 'ROLLBACK', expect: 'ok' });
});

attack('a cursor name reused for an unprotected query is not decrypted with the protected one\'s view', async (t) => {
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DECLARE c3 CURSOR FOR SELECT name FROM patient WHERE id = 1', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'CLOSE c3', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DECLARE c3 CURSOR FOR SELECT name FROM scratch', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'FETCH 1 FROM c3', expect: 'ok', check: rowsAre([{ name: 'plain name' }]) });
  await t.step({ user: 'writer', sql: 'COMMIT', expect: 'ok' });
});

attack('"C4" and c4 are different cursors: each FETCH gets its own view', async (t) => {
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DECLARE "C4" CURSOR FOR SELECT name FROM patient WHERE id = 1', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DECLARE c4 CURSOR FOR SELECT name FROM scratch', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'FETCH 1 FROM "C4"', expect: 'ok', check: rowsAre([{ name: 'Ann Able' }]) });
  await t.step({ user: 'writer', sql: 'FETCH 1 FROM C4', expect: 'ok', check: rowsAre([{ name: 'plain name' }]) });
  await t.step({ user: 'writer', sql: 'COMMIT', expect: 'ok' });
});

attack('WITH HOLD cursor survives COMMIT; MOVE, then FETCH through the extended protocol', async (t) => {
  await t.step({ user: 'writer', sql: 'DECLARE c5 CURSOR WITH HOLD FOR SELECT id, diag FROM patient ORDER BY id', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'MOVE FORWARD 1 FROM c5', expect: 'ok' });
  await t.step({ user: 'writer', via: 'extended', sql: 'FETCH NEXT FROM c5', expect: 'ok', check: rowsAre([{ id: 2, diag: 'cold' }]) });
  await t.step({ user: 'writer', sql: 'CLOSE ALL', expect: 'ok' });
});

attack('a cursor over a protected table whose query the rules refuse is never declared', async (t) => {
  await t.step({ user: 'writer', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'writer', sql: 'DECLARE c6 CURSOR FOR SELECT name FROM patient ORDER BY name', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'writer', sql: 'ROLLBACK', expect: 'ok' });
});

attack('reader: DECLARE … FOR UPDATE (row locks) is a write, refused', async (t) => {
  await t.step({ user: 'reader', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'reader', sql: 'DECLARE c7 CURSOR FOR SELECT id FROM patient FOR UPDATE', expect: REFUSE_ANY });
  await t.step({ user: 'reader', sql: 'ROLLBACK', expect: 'ok' });
});

attack('nobody: DECLARE over patient is refused', async (t) => {
  await t.step({ user: 'nobody', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'nobody', sql: 'DECLARE c8 CURSOR FOR SELECT name FROM patient', expect: REFUSE_ANY });
  await t.step({ user: 'nobody', sql: 'ROLLBACK', expect: 'ok' });
});

attack('reader: a protocol-level portal over patient (same namespace as cursors) read with SQL FETCH is refused', async (t) => {
  const s = t.secret();
  await t.step({ user: 'writer', sql: `INSERT INTO patient (id, name) VALUES (1210, '${s}')`, expect: 'ok' });
  await t.step({ user: 'reader', via: 'raw', session: 'raw', sql: 'BEGIN', expect: 'ok' });
  await t.step({ user: 'reader', via: 'raw', session: 'raw', sql: 'Parse "" SELECT name FROM patient + Bind portal p1 + Sync', expect: 'ok',
    action: async (raw) => {
      raw.send(wire.parse('', 'SELECT name FROM patient WHERE id = 1210'), wire.bind('p1', '', []), wire.sync());
      return raw.collect();
    } });
  await t.step({ user: 'reader', via: 'raw', session: 'raw', sql: 'FETCH ALL FROM p1', expect: REFUSE_UNSUPPORTED });
  await t.step({ user: 'reader', via: 'raw', session: 'raw', sql: 'ROLLBACK', expect: 'ok' });
});
