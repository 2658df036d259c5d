// Rule create-index: CREATE INDEX on a protected table.
// Postcondition: an index on an encrypted column is built on the stored form equal values share:
// the hidden blind index of a searchable column, the ciphertext of a deterministic one (a
// randomized column without a blind index has none: refused). Such an index can only serve
// equality, so a LIKE-support or default operator class of a string type (Django's
// `varchar_pattern_ops` index) is dropped and the btree/hash index built on the stored form —
// the index exists under its name, so a later DROP INDEX of it works; any other access method,
// operator class or COLLATE on an encrypted column is refused. Expressions and partial-index
// predicates that read a protected column (or the whole row) are refused; on plain columns they
// are plain DDL.
import { arr, nodeBody, sval } from '../ast.ts';
import type { Json, NodeOf } from '../ast.ts';
import { isEncrypted } from '../catalog.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { blindIndexName } from '../hidden.ts';
import type { Ctx } from '../context.ts';
import { refuse } from '../refusals.ts';
import { refuseConstruct } from '../context.ts';
import { protectedColumnIn } from './rule.ts';
import { logicalObjectName } from './create-table.ts';

/** Operator classes that only change how strings compare or match LIKE: meaningless on ciphertext. */
const STRING_OPCLASSES = new Set(['text_pattern_ops', 'varchar_pattern_ops', 'bpchar_pattern_ops', 'text_ops', 'varchar_ops', 'bpchar_ops']);
const EQUALITY_METHODS = new Set(['btree', 'hash']);

/** An index element on encrypted column `c`, moved to its stored form. */
function onStoredForm(t: CatalogTable, c: CatalogColumn & { protection: { kind: 'encrypt' } }, e: NodeOf<'IndexElem'>, method: string): void {
  const ref = { table: t, column: c };
  if (!EQUALITY_METHODS.has(method)) refuseConstruct(ref, `index USING ${method} (only btree or hash, on the stored form)`);
  if (e.collation) refuseConstruct(ref, 'index COLLATE');
  const opclass = arr(e.opclass).map((n) => sval(n) ?? '');
  if (opclass.length && !STRING_OPCLASSES.has(opclass[opclass.length - 1] ?? '')) refuseConstruct(ref, `index operator class ${opclass.join('.')}`);
  delete e.opclass;
  delete e.opclassopts;
  if (c.protection.searchable) e.name = blindIndexName(c.name);
  else if (c.protection.mode !== 'deterministic') refuseConstruct(ref, 'index (declare it searchable or deterministic)');
}

export function createIndex(ctx: Ctx, t: CatalogTable, s: Json): void {
  ctx.write = true;
  ctx.touch(t);
  const logical = arr(s.indexParams).map((p) => nodeBody(p, 'IndexElem')?.name ?? '');
  for (const p of arr(s.indexParams)) {
    const e = nodeBody(p, 'IndexElem') as NodeOf<'IndexElem'>;
    // An index stores its expression's values: over a protected column with constants it would
    // store them next to it (`(zip || 'x')`), over an encrypted one it would need plaintext.
    const hit = e.expr ? protectedColumnIn(t, e.expr) : undefined;
    if (hit) refuse('expressionIndex', { table: t, column: hit });
    const c = e.name ? t.byName.get(String(e.name)) : undefined;
    if (c && isEncrypted(c)) onStoredForm(t, c, e, String(s.accessMethod ?? 'btree'));
  }
  const where = protectedColumnIn(t, s.whereClause);
  if (where) refuse('partialIndex', { table: t, column: where });
  nameLogically(t, s, logical);
}

/** Unnamed, PostgreSQL would name an index moved to a blind index after it: the logical columns' name instead. */
function nameLogically(t: CatalogTable, s: Json, logical: string[]): void {
  const moved = arr(s.indexParams).some((p, i) => (nodeBody(p, 'IndexElem')?.name ?? '') !== logical[i]);
  const name = moved && !s.idxname && logical.every(Boolean) ? logicalObjectName(t.table, logical, 'idx') : undefined;
  if (name) s.idxname = name;
}
