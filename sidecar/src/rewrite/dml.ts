// INSERT, UPDATE, DELETE on protected tables.
import { arr, body, castChanges, colRefNames, stringNode } from './ast.ts';
import type { Json } from './ast.ts';
import { isEncrypted } from './catalog.ts';
import type { CatalogColumn, CatalogTable } from './catalog.ts';
import { blindIndexName, blindIndexPath } from './hidden.ts';
import type { Ctx } from './context.ts';
import { refuse } from './refusals.ts';
import { positional, refuseConstruct } from './context.ts';
import { plainExpr, predicate } from './expr.ts';
import { addFromItem, analyzeSelect, rangeVarRelation, targets, withClause } from './select.ts';
import { newScope, tableColumns } from './scope.ts';
import type { OutCol, Scope } from './scope.ts';
import { writeValue } from './write.ts';
import type { Written } from './write.ts';

/**
 * writeValue, after refusing a cast around the value of a protected column that PostgreSQL
 * would apply but the proxy drops (`$1::bytea`, `'0042'::int` into a text column, `B'01'` into a
 * number): the proxy protects the value as written, so it would store something else.
 */
function protectedWrite(ctx: Ctx, scope: Scope, table: CatalogTable, c: CatalogColumn, node: unknown): Written {
  const why = c.protection.kind === 'plain' ? null : castChanges(node, c.typeOid);
  if (why) refuse('convertedValue', { table, column: c, why });
  return writeValue(ctx, scope, table, c, node);
}

function column(t: CatalogTable, name: string): CatalogColumn {
  return t.byName.get(name) ?? { name, protection: { kind: 'plain' }, typeOid: 25 };
}

/**
 * The scope of a data-modifying statement: its WITH queries (analysed like a SELECT's, so a CTE
 * reading ciphertext is tracked), then the target relation.
 */
function targetScope(ctx: Ctx, s: Json): { scope: Scope; ctes: Scope; table: CatalogTable | undefined } {
  const ctes = newScope();
  withClause(ctx, s, ctes);
  const rv = s.relation as Json;
  const scope = newScope(ctes);
  const rel = rangeVarRelation(ctx, scope, rv);
  scope.relations.push(rel);
  return { scope, ctes, table: rel.table };
}

/** RETURNING behaves like a select list over the target (and FROM/USING) relations. */
function returning(ctx: Ctx, scope: Scope, s: Json): OutCol[] {
  const rc = s.returningClause as Json | undefined;
  if (!rc) return [];
  // PostgreSQL 18 lets RETURNING name the row before and after the change (old.*, new.*, or
  // aliases given by RETURNING WITH (OLD AS o…)); earlier majors read `old` as a missing table.
  if (arr(rc.options).length > 0 || JSON.stringify(rc.exprs ?? []).match(/"ColumnRef":\{"fields":\[\{"String":\{"sval":"(old|new)"\}\},/)) {
    refuse('returningOldNew');
  }
  const q: Json = { targetList: rc.exprs, op: 'SETOP_NONE' };
  const outs = targets(ctx, scope, q);
  rc.exprs = q.targetList;
  return outs;
}

export function analyzeInsert(ctx: Ctx, s: Json): OutCol[] {
  ctx.write = true;
  const { scope, ctes, table } = targetScope(ctx, s);
  const sel = body(s.selectStmt, 'SelectStmt');
  if (!table) {
    const outs = sel ? analyzeSelect(ctx, sel, ctes, false) : [];
    const p = outs.find((o) => o.prov)?.prov;
    if (p) refuseConstruct(p, 'INSERT … SELECT of ciphertext into an unprotected table');
    if (s.onConflictClause) plainExpr(ctx, scope, s.onConflictClause, 'ON CONFLICT');
    return returning(ctx, scope, s);
  }
  const names = arr(s.cols).map((c) => String(body(c, 'ResTarget')?.name));
  if (!names.length && sel) positional(table, 'INSERT');
  const cols = names.map((n) => column(table, n));
  const protectedCols = cols.filter((c) => c.protection.kind !== 'plain');
  if (sel && !sel.valuesLists) {
    const outs = analyzeSelect(ctx, sel, ctes, false);
    if (protectedCols.length) {
      insertSelect(ctx, scope, table, cols, sel, outs);
      s.cols = withBidx(cols).map((c) => ({ ResTarget: { name: c, location: -1 } }));
    }
  } else if (sel) {
    insertValues(ctx, scope, table, cols, sel);
    s.cols = withBidx(cols).map((c) => ({ ResTarget: { name: c, location: -1 } }));
  }
  onConflict(ctx, scope, table, s);
  return returning(ctx, scope, s);
}

function withBidx(cols: CatalogColumn[]): string[] {
  return [...cols.map((c) => c.name), ...cols.filter((c) => isEncrypted(c) && c.protection.searchable).map((c) => blindIndexName(c.name))];
}

function insertValues(ctx: Ctx, scope: Scope, table: CatalogTable, cols: CatalogColumn[], sel: Json): void {
  for (const row of arr(sel.valuesLists)) {
    const list = body(row, 'List') as Json;
    const items = arr(list.items);
    if (items.length !== cols.length) refuse('insertArity');
    const values: unknown[] = [];
    const extra: unknown[] = [];
    cols.forEach((c, i) => {
      const w = protectedWrite(ctx, scope, table, c, items[i]);
      values.push(w.value);
      if (w.bidx !== undefined) extra.push(w.bidx);
    });
    list.items = [...values, ...extra];
  }
}

/**
 * INSERT … SELECT into protected columns: each protected target takes a constant / parameter /
 * NULL (encrypted like VALUES) or the ciphertext of the same column (copied as is: the AAD binds
 * it to that column; a deterministic value may also come from a column sharing its key), plus the
 * source's blind index for searchable columns. Anything else would need plaintext: refused.
 */
function insertSelect(ctx: Ctx, scope: Scope, table: CatalogTable, cols: CatalogColumn[], sel: Json, outs: OutCol[]): void {
  const refuseColumn = (c: CatalogColumn, why: string): never => refuse('insertSelect', { table, column: c, why });
  if ((sel.op && sel.op !== 'SETOP_NONE') || outs.some((o) => o.star) || outs.length !== cols.length) {
    const first = cols.find((c) => c.protection.kind !== 'plain') as CatalogColumn;
    refuseColumn(first, 'the select list must name one expression per target column (no *, no set operation)');
  }
  const list = arr(sel.targetList);
  const extra: unknown[] = [];
  cols.forEach((c, i) => {
    if (c.protection.kind === 'plain') return;
    const rt = body(list[i], 'ResTarget') as Json;
    const src = outs[i]?.prov;
    if (src) {
      const same = src.table === table && src.column.name === c.name;
      const sharedKey = isEncrypted(c) && c.protection.mode === 'deterministic' && src.column.protection.mode === 'deterministic' && src.column.protection.keyName === c.protection.keyName;
      if (!same && !sharedKey) refuseColumn(c, `ciphertext of ${src.table.table}.${src.column.name} cannot be moved into it`);
      ctx.touch(table, c.name);
      if (isEncrypted(c) && c.protection.searchable) {
        const ref = body(rt.val, 'ColumnRef');
        if (!ref) refuseColumn(c, 'the blind index of the source is not reachable');
        const names = blindIndexPath(colRefNames(ref as Json));
        extra.push({ ResTarget: { val: { ColumnRef: { fields: names.map(stringNode), location: -1 } }, location: -1 } });
      }
      return;
    }
    if (body(rt.val, 'ColumnRef')) refuseColumn(c, 'a plain source column would be stored without protection');
    const w = protectedWrite(ctx, scope, table, c, rt.val);
    rt.val = w.value;
    if (w.bidx !== undefined) extra.push({ ResTarget: { val: w.bidx, location: -1 } });
  });
  sel.targetList = [...list, ...extra];
}

function onConflict(ctx: Ctx, scope: Scope, table: CatalogTable, s: Json): void {
  const oc = s.onConflictClause as Json | undefined;
  if (!oc) return;
  const infer = oc.infer as Json | undefined;
  for (const e of arr(infer?.indexElems)) {
    const elem = body(e, 'IndexElem') as Json;
    const c = table.byName.get(String(elem.name));
    if (c && isEncrypted(c) && c.protection.mode !== 'deterministic') refuseConstruct({ table, column: c }, 'ON CONFLICT target');
    if (elem.expr) plainExpr(ctx, scope, elem.expr, 'ON CONFLICT target');
  }
  // The proxy creates no partial index on a protected table, so there is none to infer.
  if (infer?.whereClause) refuse('onConflictWhere', { table });
  const excluded = newScope(scope);
  excluded.relations.push(...scope.relations, { alias: 'excluded', table, columns: tableColumns(table) });
  oc.targetList = setList(ctx, excluded, table, arr(oc.targetList), true);
  if (oc.whereClause) oc.whereClause = predicate(ctx, excluded, oc.whereClause);
}

/** SET col = value list; `EXCLUDED.col` is allowed for the same column (ciphertext moves as is). */
function setList(ctx: Ctx, scope: Scope, table: CatalogTable, items: unknown[], allowExcluded: boolean): unknown[] {
  const out: unknown[] = [];
  for (const item of items) {
    const rt = body(item, 'ResTarget') as Json;
    if (body(rt.val, 'MultiAssignRef')) {
      plainExpr(ctx, scope, rt.val, 'multiple-column assignment');
      if (table.columns.some((c) => c.name === rt.name && c.protection.kind !== 'plain')) refuse('multiAssign', { table, column: String(rt.name) });
      out.push(item);
      continue;
    }
    const c = column(table, String(rt.name));
    const ref = body(rt.val, 'ColumnRef');
    const names = ref ? colRefNames(ref) : [];
    if (allowExcluded && names.length === 2 && names[0] === 'excluded' && names[1] === c.name && c.protection.kind !== 'plain') {
      ctx.touch(table, c.name);
      out.push(item);
      if (isEncrypted(c) && c.protection.searchable) out.push(setItem(blindIndexName(c.name), { ColumnRef: { fields: blindIndexPath(['excluded', c.name]).map(stringNode), location: -1 } }));
      continue;
    }
    const w = protectedWrite(ctx, scope, table, c, rt.val);
    rt.val = w.value;
    out.push(item);
    if (w.bidx !== undefined) out.push(setItem(blindIndexName(c.name), w.bidx));
  }
  return out;
}

function setItem(name: string, val: unknown): Json {
  return { ResTarget: { name, val, location: -1 } };
}

export function analyzeUpdate(ctx: Ctx, s: Json): OutCol[] {
  ctx.write = true;
  const { scope, table } = targetScope(ctx, s);
  for (const f of arr(s.fromClause)) addFromItem(ctx, scope, f);
  if (table) s.targetList = setList(ctx, scope, table, arr(s.targetList), false);
  else plainExpr(ctx, scope, s.targetList, 'SET value');
  if (s.whereClause) s.whereClause = predicate(ctx, scope, s.whereClause);
  return returning(ctx, scope, s);
}

export function analyzeDelete(ctx: Ctx, s: Json): OutCol[] {
  ctx.write = true;
  const { scope } = targetScope(ctx, s);
  for (const f of arr(s.usingClause)) addFromItem(ctx, scope, f);
  if (s.whereClause) s.whereClause = predicate(ctx, scope, s.whereClause);
  return returning(ctx, scope, s);
}
