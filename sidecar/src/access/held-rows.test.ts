// Rows held until COMMIT (held-rows.ts): which statements are held INSERTs, the transaction
// statements of a text, the pending/confirmed life of a held row, and the flush INSERT's text.
import { beforeAll, describe, expect, it } from 'vitest';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { EHEALTH_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';
import { OID } from '../protection/encryption/canonical.ts';
import { loadParser } from '../rewrite/parser.ts';
import { flushSql, heldInsert, HeldRows, transactionOf } from './held-rows.ts';
import type { HeldInsert } from './held-rows.ts';

beforeAll(async () => {
  await loadParser();
});

const POLICY: RuntimePolicy = {
  ...EHEALTH_POLICY,
  datasets: [
    {
      name: 'stays', schema: 'public', table: 'stay',
      columns: [
        { name: 'id', attributeType: 'technicalIdentifier', backend: 'cloud-a' },
        { name: 'age', attributeType: 'quasiIdentifier', anonymize: { kAnonymity: { k: 3 } }, backend: 'cloud-a' },
        { name: 'diag', attributeType: 'confidential', backend: 'cloud-a' },
      ],
    },
    { name: 'notes', schema: 'public', table: 'note', columns: [{ name: 'body', attributeType: 'identifier', backend: 'cloud-a', anonymize: { suppress: {} } }] },
  ],
};

function catalog() {
  const rw = testRewriter(POLICY);
  rw.catalog.learn('public', 'stay', [{ name: 'id', typeOid: OID.int4 }, { name: 'age', typeOid: OID.int4 }, { name: 'diag', typeOid: OID.text }]);
  return rw.catalog;
}

describe('heldInsert', () => {
  it('takes one row of constants and parameters, with a column list, into a k-anonymity table', () => {
    const h = heldInsert(catalog(), "INSERT INTO stay (id, age, diag) VALUES (1, $1, 'o''k'::text)");
    expect(h?.table.table).toBe('stay');
    expect(h?.values).toEqual([{ text: '1' }, { param: 1 }, { text: "o'k" }]);
    expect(h?.paramCount).toBe(1);
    expect(heldInsert(catalog(), 'insert into public.stay (age) values (NULL)')?.values).toEqual([{ text: null }]);
  });

  it.each([
    ['two rows (a batch of its own)', 'INSERT INTO stay (id, age) VALUES (1, 2), (3, 4)'],
    ['no column list', 'INSERT INTO stay VALUES (1, 2, 3)'],
    ['RETURNING', 'INSERT INTO stay (age) VALUES (1) RETURNING age'],
    ['ON CONFLICT', 'INSERT INTO stay (age) VALUES (1) ON CONFLICT DO NOTHING'],
    ['WITH', 'WITH x AS (SELECT 1) INSERT INTO stay (age) VALUES (1)'],
    ['an expression', 'INSERT INTO stay (age) VALUES (1 + 1)'],
    ['DEFAULT', 'INSERT INTO stay (age) VALUES (DEFAULT)'],
    ['INSERT … SELECT', 'INSERT INTO stay (age) SELECT 1'],
    ['a table without k-anonymity columns', "INSERT INTO note (body) VALUES ('x')"],
    ['no k-anonymity column written', 'INSERT INTO stay (id) VALUES (1)'],
    ['an unknown table', 'INSERT INTO other (age) VALUES (1)'],
    ['two statements', 'INSERT INTO stay (age) VALUES (1); INSERT INTO stay (age) VALUES (2)'],
    ['OVERRIDING', 'INSERT INTO stay (age) OVERRIDING SYSTEM VALUE VALUES (1)'],
    ['a column twice', 'INSERT INTO stay (age, age) VALUES (1, 2)'],
  ])('leaves %s to the ordinary path', (_, sql) => {
    expect(heldInsert(catalog(), sql)).toBeNull();
  });
});

describe('transactionOf', () => {
  it('finds transaction statements, in order, and parses nothing else', () => {
    expect(transactionOf('BEGIN').kinds).toEqual(['begin']);
    expect(transactionOf('start transaction isolation level serializable').kinds).toEqual(['begin']);
    expect(transactionOf('COMMIT').kinds).toEqual(['commit']);
    // AND CHAIN opens the next block at once.
    expect(transactionOf('COMMIT AND CHAIN').kinds).toEqual(['commit', 'begin']);
    expect(transactionOf('rollback and chain').kinds).toEqual(['rollback', 'begin']);
    expect(transactionOf('COMMIT AND NO CHAIN').kinds).toEqual(['commit']);
    expect(transactionOf('end').kinds).toEqual(['commit']);
    expect(transactionOf('ABORT').kinds).toEqual(['rollback']);
    expect(transactionOf('ROLLBACK TO SAVEPOINT a').kinds).toEqual(['rollbackTo']);
    expect(transactionOf("PREPARE TRANSACTION 'x'").kinds).toEqual(['prepare']);
    expect(transactionOf('SAVEPOINT a').kinds).toEqual(['other']);
    expect(transactionOf('SELECT 1; COMMIT; BEGIN')).toEqual({ kinds: ['commit', 'begin'], statements: 3 });
    expect(transactionOf('SELECT CASE WHEN true THEN 1 END').kinds).toEqual([]);
    expect(transactionOf('SELECT 1').statements).toBe(0);
  });
});

const held = (): HeldInsert => heldInsert(catalog(), 'INSERT INTO stay (id, age) VALUES ($1, $2)') as HeldInsert;

describe('HeldRows', () => {
  it('stores only rows whose stand-in the backend completed, in order per statement', () => {
    const rows = new HeldRows(1 << 20);
    const a = {};
    const b = {};
    rows.add(a, held(), ['1', '10']);
    rows.add(a, held(), ['2', '20']);
    rows.add(b, held(), ['3', '30']);
    expect(rows.size).toBe(3);
    expect(rows.pendingCount).toBe(3);
    rows.confirm(a);
    rows.drop(a);
    rows.confirm(b);
    expect(rows.datasets()).toEqual(new Set(['stays']));
    const groups = rows.take();
    expect(groups.map((g) => g.rows)).toEqual([[['1', '10'], ['3', '30']]]);
    expect(rows.size).toBe(0);
  });

  it('waits for pending rows before a COMMIT takes them', async () => {
    const rows = new HeldRows(1 << 20);
    const a = {};
    expect(rows.settled()).toBeUndefined();
    rows.add(a, held(), ['1', '10']);
    let done = false;
    const wait = rows.settled()?.then(() => { done = true; });
    await Promise.resolve();
    expect(done).toBe(false);
    rows.confirm(a);
    await wait;
    expect(done).toBe(true);
  });

  it('skips the late answers of rows a ROLLBACK forgot: they never confirm rows of the next block', () => {
    const rows = new HeldRows(1 << 20);
    const a = {};
    rows.add(a, held(), ['1', 'old']);
    rows.clear();
    rows.add(a, held(), ['2', 'new']);
    rows.confirm(a); // the old stand-in's answer
    expect(rows.pendingCount).toBe(1);
    rows.drop(a); // the new one failed
    expect(rows.take()).toEqual([]);
  });

  it('refuses a row past the byte bound', () => {
    const rows = new HeldRows(60);
    expect(rows.add({}, held(), ['1', 'x'.repeat(10)])).toBe(true);
    expect(rows.add({}, held(), ['1', 'x'.repeat(40)])).toBe(false);
    expect(rows.size).toBe(1);
  });
});

describe('flushSql', () => {
  it('quotes identifiers and constants (quotes doubled; NULL as NULL)', () => {
    const sql = flushSql({ table: catalog().lookup('public', 'stay') as NonNullable<ReturnType<ReturnType<typeof catalog>['lookup']>>, columns: ['id', 'age'], rows: [["1'; DROP TABLE x; --", null], ['2', '3']] });
    expect(sql).toBe(`INSERT INTO "public"."stay" ("id", "age") VALUES\n('1''; DROP TABLE x; --', NULL),\n('2', '3')`);
  });
});
