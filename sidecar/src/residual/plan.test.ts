import { describe, expect, test } from 'vitest';
import { decodeFrontend, type FrontendMessage } from '../protocol/frontend.ts';
import { buildCall, createTableSql, quoteIdent, quoteLiteral, settingsSql, tableSignature } from './plan.ts';
import { ResidualLimitError, ResidualUnsupportedError } from './errors.ts';

function messages(bytes: Uint8Array): FrontendMessage[] {
  const out: FrontendMessage[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let pos = 0; pos < bytes.length;) {
    const len = view.getInt32(pos + 1);
    const d = decodeFrontend(bytes[pos] as number, bytes, pos + 5, pos + 1 + len);
    if (!d.ok) throw d.error;
    out.push(d.msg);
    pos += 1 + len;
  }
  return out;
}

const rel = { name: 'r', columns: [{ name: 'name', typeOid: 25 }, { name: 'n', typeOid: 23 }], rows: [['a', '1'], [null, null]] };

describe('residual call plan', () => {
  test('identifiers and literals are quoted; bad ones refused with 0A000', () => {
    expect(quoteIdent('we"ird')).toBe('"we""ird"');
    expect(quoteLiteral("it's")).toBe("'it''s'");
    expect(() => quoteIdent('')).toThrow(ResidualUnsupportedError);
    expect(() => quoteIdent('x'.repeat(64))).toThrow(/not a valid identifier/);
    expect(() => quoteIdent('a\0b')).toThrow(ResidualUnsupportedError);
  });

  test('settings become SET LOCAL statements', () => {
    expect(settingsSql({ timeZone: "Europe/Madrid", extraFloatDigits: 3, byteaOutput: 'escape' }))
      .toBe("SET LOCAL TimeZone = 'Europe/Madrid'; SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'escape'; ");
    expect(settingsSql()).toBe('');
  });

  test('a table is created from the column types; unsupported types are refused with 0A000', () => {
    expect(createTableSql('s_1', 'r', tableSignature(rel))).toBe('CREATE UNLOGGED TABLE "s_1"."r" ("name" text, "n" int4)');
    const money = { name: 'r', columns: [{ name: 'm', typeOid: 790 }], rows: [] };
    expect(() => tableSignature(money)).toThrow(/type oid 790/);
  });

  test('the batch: ddl, transaction with settings, COPY, read-only, one extended-protocol query, rollback', () => {
    const b = buildCall({ relations: [rel], sql: 'SELECT * FROM r', limits: { maxRows: 10, maxBytes: 100, maxResultRows: 5 }, settings: { timeZone: 'UTC' } }, ['CREATE UNLOGGED TABLE "s_1"."r" ("name" text, "n" int4)'], 's_1');
    const m = messages(b.bytes);
    expect(m.map((x) => x.type)).toEqual(['Query', 'Query', 'Query', 'CopyData', 'CopyDone', 'Query', 'Parse', 'Bind', 'Describe', 'Execute', 'Sync', 'Query']);
    expect(m[1]).toMatchObject({ sql: 'BEGIN; SET LOCAL TimeZone = \'UTC\'; SET LOCAL search_path = "s_1"' });
    expect(m[2]).toMatchObject({ sql: 'COPY "s_1"."r" FROM STDIN' });
    expect(Buffer.from((m[3] as { data: Uint8Array }).data).toString()).toBe('a\t1\n\\N\t\\N\n');
    expect(m[9]).toMatchObject({ type: 'Execute', maxRows: 6 });
    expect(m[11]).toMatchObject({ sql: 'ROLLBACK' });
    expect(b).toMatchObject({ loadPhases: 4, maxResultRows: 5 });
  });

  test('limits are checked before anything is sent; duplicate relation names are refused', () => {
    expect(() => buildCall({ relations: [rel], sql: 'SELECT 1', limits: { maxRows: 1, maxBytes: 100 } }, [])).toThrow(ResidualLimitError);
    expect(() => buildCall({ relations: [rel, rel], sql: 'SELECT 1', limits: { maxRows: 10, maxBytes: 100 } }, [])).toThrow(/given twice/);
  });
});
