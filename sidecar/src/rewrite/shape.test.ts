// The literal finder of statement shapes against the backend's own lexer (libpg-query's scanner):
// every shape it gives must be read the same way by the lexer, and forms it is not sure of give none.
import { loadModule, scanSync } from 'libpg-query';
import { beforeAll, describe, expect, it } from 'vitest';
import { agreesWithLexer, literalTexts, shapeOf } from './shape.ts';

beforeAll(async () => { await loadModule(); });

describe('shapeOf', () => {
  it('marks canonical literals by class and keeps everything else', () => {
    const s = shapeOf("SELECT a FROM t WHERE id = -5 AND n IN ('Mü''ller', 2.5, 99999999999) ORDER BY 1 LIMIT 10");
    expect(s?.key).toBe("SELECT a FROM t WHERE id = -\u0001i AND n IN (\u0001s, \u0001f, \u0001F) ORDER BY \u0001i LIMIT \u0001i");
    expect(literalTexts("SELECT 'a''b', 7", shapeOf("SELECT 'a''b', 7") as NonNullable<ReturnType<typeof shapeOf>>)).toEqual(["'a''b'", '7']);
  });

  it('gives the same key to texts that differ only in literal values of the same class', () => {
    expect(shapeOf('SELECT * FROM t WHERE id = 1')?.key).toBe(shapeOf('SELECT * FROM t WHERE id = 123456')?.key);
    expect(shapeOf('SELECT * FROM t WHERE id = 1')?.key).not.toBe(shapeOf('SELECT * FROM t WHERE id = 3000000000')?.key);
    expect(shapeOf("SELECT * FROM t WHERE id = '1'")?.key).not.toBe(shapeOf('SELECT * FROM t WHERE id = 1')?.key);
    expect(shapeOf('SELECT * FROM t WHERE id = 1')?.key).not.toBe(shapeOf('SELECT * FROM t  WHERE id = 1')?.key);
  });

  it.each([
    ['comment', 'SELECT 1 -- x'], ['block comment', 'SELECT /* 1 */ 2'], ['escape string', "SELECT E'a'"],
    ['national string', "SELECT N'a'"], ['bit string', "SELECT B'01'"], ['hex string', "SELECT X'1f'"],
    ['unicode string', "SELECT U&'a'"], ['dollar quote', 'SELECT $$a$$'], ['backslash', "SELECT 'a\\'"],
    ['continued string', "SELECT 'a'\n'b'"], ['trailing junk', 'SELECT 5abc'], ['hex number', 'SELECT 0x1F'],
    ['underscore number', 'SELECT 1_000'], ['range dots', 'SELECT 1..2'], ['unterminated', "SELECT 'a"],
    ['parameter glued to a name', 'SELECT $1a'], ['marker character', 'SELECT \u0001'],
  ])('gives no shape for a %s', (_, sql) => {
    expect(shapeOf(sql)).toBeNull();
  });

  it.each([
    "SELECT * FROM t WHERE id = -5 AND n IN ('Mü''ller', 2.5, 99999999999) ORDER BY 1 LIMIT 10",
    "INSERT INTO t (a, b, c) VALUES (1, 'x', 1.5e3), (2, '', .5)",
    'UPDATE t SET a = 2147483647, b = 2147483648 WHERE c = $1 AND "we""ird" = 0',
    "SELECT a::varchar(10), 'x'::text, t.\"a'b\" FROM t WHERE d BETWEEN 1 AND 2 OR e IS DISTINCT FROM 'q'",
    'SELECT 007, 1., 1e-3, 1E+4',
  ])('agrees with the lexer on %s', (sql) => {
    const s = shapeOf(sql);
    expect(s).not.toBeNull();
    expect(agreesWithLexer(sql, s as NonNullable<typeof s>, scanSync(sql).tokens)).toBe(true);
  });
});
