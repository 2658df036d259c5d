// Values written into protected columns (INSERT VALUES, UPDATE SET, ON CONFLICT DO UPDATE).
// Postcondition: an encrypted column only ever receives NULL, DEFAULT, a bytea ciphertext literal,
// a parameter the proxy encrypts at Bind, or a CASE over plain conditions whose every result is one
// of these (Django's bulk_update: `SET col = CASE WHEN id = 1 THEN 'a' WHEN id = 2 THEN 'b' END`); a searchable column's hidden blind index receives the
// matching value; anonymized columns receive the anonymized constant. Anything else is refused.
import { anonymizeText, appliesAtWrite } from '../../protection/anonymize-write.ts';
import type { WriteKeys } from '../../protection/anonymize-write.ts';
import { BLIND_INDEX_BYTES } from '../../protection/encryption/sizes.ts';
import type { CaseExpr, TypeName } from '@pgsql/types';
import { arr, body, byteaLiteral, constText, nodeBody, nullConst, paramRef, textConst, typeNameOf, unwrapCast } from '../ast.ts';
import { typeOid } from '../../protection/encryption/canonical.ts';
import { typmodOf } from './create-table.ts';
import type { Json } from '../ast.ts';
import type { CatalogColumn, CatalogTable } from '../catalog.ts';
import { isEncrypted } from '../catalog.ts';
import type { Ctx, ProtectedRef } from '../context.ts';
import { refuse } from '../refusals.ts';
import { refuseConstruct } from '../context.ts';
import type { Scope } from '../scope.ts';
import { plainExpr } from '../expr.ts';

/** The value node for the column, and for searchable columns the node for its blind index. */
export interface Written {
  value: unknown;
  bidx?: unknown;
}

export function writeValue(ctx: Ctx, scope: Scope, table: CatalogTable, column: CatalogColumn, node: unknown): Written {
  ctx.touch(table, column.name);
  if (isEncrypted(column)) return writeEncrypted(ctx, scope, { table, column }, node);
  if (column.protection.kind === 'anonymize') return { value: writeAnonymized(ctx, table, column, node) };
  plainExpr(ctx, scope, node, `value for ${table.table}.${column.name}`);
  return { value: node };
}

function writeEncrypted(ctx: Ctx, scope: Scope, ref: ProtectedRef, node: unknown): Written {
  const searchable = ref.column.protection.searchable;
  if (body(node, 'SetToDefault')) return { value: node, bidx: searchable ? node : undefined };
  const caseExpr = nodeBody(node, 'CaseExpr');
  if (caseExpr) return writeCase(ctx, scope, ref, caseExpr);
  // Django 5 casts bulk_update's CASE to the field's type (`CASE … END::varchar(200)`): a cast to
  // the column's own declared type is the assignment itself (each result's length is checked as
  // written).
  const cast = nodeBody(node, 'TypeCast');
  if (cast && body(cast.arg, 'CaseExpr') && isDeclaredType(ref.column, cast.typeName ?? {})) return writeEncrypted(ctx, scope, ref, cast.arg);
  const v = unwrapCast(node);
  const c = constText(v);
  const p = body(v, 'ParamRef');
  if (c?.isNull) return { value: nullConst(), bidx: searchable ? nullConst() : undefined };
  const cipher = ctx.cipher(ref);
  if (c) {
    // Placeholders (the executor encrypts them, a randomized one afresh at each execution).
    const canon = ctx.assigned(ref, c.text);
    return { value: byteaLiteral(cipher.encrypt(canon)), bidx: searchable ? byteaLiteral(cipher.blindIndex(canon)) : undefined };
  }
  if (p) {
    const n = Number(p.number);
    if (!searchable) {
      ctx.setParam(n, { kind: 'encrypt', ref, assign: true });
      return { value: paramRef(n) };
    }
    // One parameter feeds both columns: the proxy sends blind index || ciphertext and the
    // statement splits it, so the client's parameter list (and its format codes) stay as they are.
    ctx.setParam(n, { kind: 'encryptIndexed', ref, assign: true });
    return { value: substr(n, BLIND_INDEX_BYTES + 1), bidx: substr(n, 1, BLIND_INDEX_BYTES) };
  }
  return refuseConstruct(ref, 'an expression as the written value (only constants, parameters, NULL, DEFAULT)');
}

function isDeclaredType(c: CatalogColumn, tn: TypeName): boolean {
  const oid = typeOid(typeNameOf(tn));
  if (oid !== c.typeOid || arr(tn.arrayBounds).length || tn.setof || tn.pct_type) return false;
  return arr(tn.typmods).length === 0 || typmodOf(tn, oid) === (c.typmod ?? -1);
}

/**
 * A CASE whose conditions are plain (they read no protected value) and whose results are values
 * the proxy can write: the value column gets the CASE with each result encrypted, a blind index
 * the same CASE with each result's index. The conditions are evaluated by the backend, as written.
 */
function writeCase(ctx: Ctx, scope: Scope, ref: ProtectedRef, c: CaseExpr): Written {
  plainExpr(ctx, scope, [c.arg, ...arr(c.args).map((w) => nodeBody(w, 'CaseWhen')?.expr)], `CASE condition for ${ref.table.table}.${ref.column.name}`);
  const whens = arr(c.args).map((w) => {
    const b = nodeBody(w, 'CaseWhen') ?? {};
    return { b, written: writeEncrypted(ctx, scope, ref, b.result) };
  });
  const otherwise = c.defresult === undefined ? { value: nullConst(), bidx: nullConst() } : writeEncrypted(ctx, scope, ref, c.defresult);
  const build = (pick: (w: Written) => unknown): Json => ({
    CaseExpr: { ...c, args: whens.map(({ b, written }) => ({ CaseWhen: { ...b, result: pick(written) } })), defresult: pick(otherwise) },
  });
  return { value: build((w) => w.value), ...(ref.column.protection.searchable ? { bidx: build((w) => w.bidx ?? nullConst()) } : {}) };
}

function writeAnonymized(ctx: Ctx, table: CatalogTable, column: CatalogColumn, node: unknown): unknown {
  if (column.protection.kind !== 'anonymize') return node;
  const v = unwrapCast(node);
  const c = constText(v);
  const p = body(v, 'ParamRef');
  if (body(node, 'SetToDefault') || c?.isNull) return node;
  const spec = column.protection.spec;
  if (!appliesAtWrite(spec, column.typeOid)) {
    refuse('anonymizeAtWrite', { table, column });
  }
  if (c) return anonymizedConst(ctx, table, column, c.text);
  if (p) {
    ctx.setParam(Number(p.number), { kind: 'anonymize', table, column });
    return node;
  }
  return refuse('anonymizedExpression', { table, column });
}

/**
 * Keys and randomness a dry run of a keyed anonymization uses: whether a value can be anonymized
 * does not depend on them (what it becomes does, and the executor computes that).
 */
const DRY_RUN: WriteKeys = { mac: () => new Uint8Array(32), seal: () => new Uint8Array(48), random: () => 0.5 };

/**
 * The anonymized constant: computed here when the method needs no keys (suppress, mask,
 * generalize), else a placeholder the executor fills (pseudonymize, noise, shift: protection/fill.ts).
 */
function anonymizedConst(ctx: Ctx, table: CatalogTable, column: CatalogColumn, text: string): unknown {
  if (column.protection.kind !== 'anonymize') return textConst(text);
  const spec = column.protection.spec;
  const keyless = anonymizeText(spec, text, column.typeOid);
  if (keyless !== undefined) return keyless === null ? nullConst() : textConst(keyless);
  if (anonymizeText(spec, text, column.typeOid, DRY_RUN) === undefined) refuse('notGeneralizable', { table, column });
  if (!ctx.placeholders) refuse('unexpectedShape', { error: 'a keyed anonymization without a placeholder list' });
  return textConst(ctx.placeholders.anonymize(table, column, text));
}

function substr(n: number, from: number, len?: number): Json {
  const args: unknown[] = [paramRef(n), { A_Const: { ival: { ival: from }, location: -1 } }];
  if (len !== undefined) args.push({ A_Const: { ival: { ival: len }, location: -1 } });
  return { FuncCall: { funcname: [{ String: { sval: 'substr' } }], args, funcformat: 'COERCE_EXPLICIT_CALL', location: -1 } };
}
