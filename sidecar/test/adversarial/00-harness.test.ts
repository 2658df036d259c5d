// Self-test of the adversarial harness: every detector must fire on a real occurrence, so a
// passing attack test means "nothing found", not "nothing looked". Canaries are sent through
// legitimate paths (plain columns, which the policy leaves in clear) and must be found.
import { expect, it } from 'vitest';
import { adversarialSuite, Attack, diffFingerprints, hexOf } from './harness.ts';

const { attack, env } = adversarialSuite();

it('scan finds a canary in the dump, the server log and the wire; hex form in a bytea column', async () => {
  const e = env();
  await e.fresh();
  const t = new Attack(e);
  const plain = t.canary();
  const bytes = t.canary();
  await t.step({ user: 'writer', sql: `INSERT INTO scratch (id, t, b) VALUES (1, '${plain}', '\\x${hexOf(bytes)}')`, expect: 'ok' });
  await e.closeSessions();
  const f = await e.scan([plain, bytes]);
  const where = (c: string) => new Set(f.filter((x) => x.canary === c).map((x) => `${x.source}/${x.form}`));
  expect([...where(plain)].sort()).toEqual(expect.arrayContaining(['pg_dump/text', 'server log/text', 'wire to backend/text']));
  // The bytea value is sent as hex and stored as bytea: the dump shows it as hex only.
  expect([...where(bytes)]).toEqual(expect.arrayContaining(['pg_dump/hex', 'server log/hex', 'wire to backend/hex']));
  expect(where(bytes).has('pg_dump/text')).toBe(false);
});

it('scan finds a canary a statement builds on the server (not in any statement text) in the dump', async () => {
  const e = env();
  await e.fresh();
  const t = new Attack(e);
  const c = t.canary();
  const [a, b] = [c.slice(0, 8), c.slice(8)];
  await t.step({ user: 'writer', sql: `INSERT INTO scratch (id, t) VALUES (2, '${a}' || '${b}')`, expect: 'ok' });
  await e.closeSessions();
  const f = await e.scan([c]);
  expect(f.map((x) => x.source)).toContain('pg_dump');
  expect(f.map((x) => x.source)).not.toContain('server log');
});

it('scan finds COPY data and Bind parameters on the wire', async () => {
  const e = env();
  await e.fresh();
  const t = new Attack(e);
  const c1 = t.canary();
  const c2 = t.canary();
  await t.step({ user: 'writer', sql: 'INSERT INTO scratch (id, t) VALUES ($1, $2)', params: [3, c1], expect: 'ok' });
  await t.step({ user: 'writer', sql: 'COPY scratch (id, t) FROM STDIN', copyIn: Buffer.from(`4\t${c2}\n`), expect: 'ok' });
  const f = await e.scan([c1, c2]);
  expect(f.filter((x) => x.canary === c1).map((x) => x.source)).toContain('wire to backend');
  expect(f.filter((x) => x.canary === c2).map((x) => x.source)).toContain('wire to backend');
});

it('fingerprint sees row changes, row locks, relfilenode changes, comments and role settings', async () => {
  const e = env();
  await e.fresh();
  const base = await e.fingerprint();
  const a = e.admin!;
  const changes: Array<[string, string]> = [
    ['rows', "UPDATE scratch SET t = 'y'"],
    ['row lock', 'SELECT 1 FROM scratch FOR UPDATE'],
    ['relfilenode', 'VACUUM FULL scratch'],
    ['comment', "COMMENT ON TABLE scratch IS 'x'"],
    ['role setting', 'ALTER ROLE clarus_owner SET work_mem = 1234'],
  ];
  let prev = base;
  for (const [what, sql] of changes) {
    await a.query(sql);
    const next = await e.fingerprint();
    expect(diffFingerprints(prev, next), what).not.toBeNull();
    prev = next;
  }
  await a.query('ALTER ROLE clarus_owner RESET ALL');
});

attack('a refused statement is recognised as refused by the proxy (nothing forwarded)', async (t) => {
  await t.step({ user: 'nobody', sql: 'SELECT name FROM patient', expect: { refuse: ['42501'] } });
  if (!t.trace.join('').includes('refused by the proxy')) t.fail('the step was not classified as a proxy refusal');
});
