// State of one statement's analysis: which datasets/columns it touches, whether it writes, the
// roles its parameters play, and the refusal raised when a construct cannot be handled safely.
import type { InsertBatch } from './rules/rule.ts';
import { assignedText, canonicalText, ValueTooLongError } from '../protection/encryption/canonical.ts';
import type { SelectStmt } from '@pgsql/types';
import type { Catalog, CatalogColumn, CatalogTable } from './catalog.ts';
import type { PlaceholderList } from './placeholders.ts';
import { refuse } from './refusals.ts';
import type { OutCol, Scope } from './scope.ts';

/** A column whose stored values are ciphertext. */
export interface ProtectedRef {
  table: CatalogTable;
  column: CatalogColumn & { protection: { kind: 'encrypt' } };
  /**
   * Other columns whose values an output may carry under this one's name: the arms of a set
   * operation, the sides of a JOIN … USING. They share its deterministic key (else the
   * statement was refused); the output is shown with the most restrictive of their views.
   */
  also?: ProtectedRef[];
}

/** The column itself and every column its values may come from (see ProtectedRef.also). */
export function sourcesOf(ref: ProtectedRef): ProtectedRef[] {
  return [ref, ...(ref.also ?? [])];
}

function sameColumn(a: ProtectedRef, b: ProtectedRef): boolean {
  return a.table === b.table && a.column === b.column;
}

/** `a` widened with the sources of `b` (a itself when b adds none). */
export function mergeSources(a: ProtectedRef, b: ProtectedRef): ProtectedRef {
  const extra = sourcesOf(b).filter((x) => !sourcesOf(a).some((y) => sameColumn(x, y)));
  return extra.length ? { ...a, also: [...(a.also ?? []), ...extra] } : a;
}

/** What the proxy does to parameter $n at Bind. */
export type ParamRole =
  /** `assign`: the value is written into the column (its declared length applies, fitDeclaredLength). */
  | { kind: 'encrypt'; ref: ProtectedRef; assign?: true }
  /** Encrypted value for a searchable column: the proxy sends blind index || ciphertext. */
  | { kind: 'encryptIndexed'; ref: ProtectedRef; assign?: true }
  | { kind: 'equalityAny'; ref: ProtectedRef }
  /**
   * An array of values for the column (UNNEST of Django's bulk_create with server-side binding):
   * each element encrypted, a searchable column's as blind index || ciphertext; sent as bytea[].
   */
  | { kind: 'encryptArray'; ref: ProtectedRef }
  | { kind: 'blindIndexAny'; ref: ProtectedRef }
  | { kind: 'anonymize'; table: CatalogTable; column: CatalogColumn }
  /** An array of values for an anonymized column (UNNEST): each element anonymized; sent as text[]. */
  | { kind: 'anonymizeArray'; table: CatalogTable; column: CatalogColumn };

export { Refusal } from './refusals.ts';

export function refuseConstruct(ref: ProtectedRef, construct: string): never {
  return refuse('encryptedConstruct', { ref, construct });
}

/**
 * INSERT or COPY FROM without a column list on a protected table is refused: which value goes
 * to which column would rest on the proxy's idea of the column order, and a table changed
 * outside the proxy (or in a transaction it cannot see into) would put a value meant for an
 * encrypted column into a plain one. Naming the columns makes the proxy's view exact.
 */
export function positional(table: CatalogTable, what: string): never {
  return refuse('positional', { table, what });
}

/**
 * What rules ask of a column's cipher (protection/encryption/column.ts ColumnCipher has these).
 * In the rewriter it holds no keys: its outputs are placeholder markers (placeholders.ts) that the
 * executor fills.
 */
export interface RuleCipher {
  encrypt(text: string): Buffer;
  blindIndex(text: string): Buffer;
  equalityForms(text: string): Buffer[];
  blindIndexes(text: string): Buffer[];
}

export type CipherFor = (ref: ProtectedRef) => RuleCipher;

/**
 * The analysis of a SELECT met inside an expression (EXISTS, IN (SELECT …), a scalar subquery).
 * Handed in by the rewriter so that expressions (expr.ts) and selects (select.ts), which contain
 * each other, do not import each other.
 */
export type SubqueryAnalysis = (ctx: Ctx, s: SelectStmt, parent: Scope) => OutCol[];

export class Ctx {
  readonly catalog: Catalog;
  readonly cipher: CipherFor;
  readonly subquery: SubqueryAnalysis;
  readonly params = new Map<number, ParamRole>();
  /** dataset → columns referenced. */
  readonly touched = new Map<string, Set<string>>();
  write = false;
  /**
   * False when the plan must not be reused for another execution of the same text. Protected
   * constants are placeholders the executor fills per execution (randomized ones included), so no
   * rule needs this today.
   */
  cacheable = true;
  /** The placeholders of this analysis, when the rewriter gives them (rules/write-value.ts anonymized constants). */
  placeholders: PlaceholderList | null = null;
  /** Tables whose columns a `*` was expanded into, with those columns (rules/shape-guard.ts). */
  readonly expanded: Array<{ table: CatalogTable; columns: string[] }> = [];
  /** The k-anonymity batch of the INSERT being analysed (rules/insert-batch.ts), taken by its StatementResult. */
  batch: InsertBatch | undefined = undefined;
  /** Highest parameter number in the client's statement; extra parameters are numbered after it. */
  maxParam: number;

  constructor(catalog: Catalog, cipher: CipherFor, maxParam: number, subquery: SubqueryAnalysis) {
    this.catalog = catalog;
    this.cipher = cipher;
    this.subquery = subquery;
    this.maxParam = maxParam;
  }

  touch(table: CatalogTable, column?: string): void {
    if (table.unsafe) refuse('unsafeTable', { table, why: table.unsafe });
    let s = this.touched.get(table.dataset);
    if (!s) this.touched.set(table.dataset, (s = new Set()));
    if (column) s.add(column);
  }

  setParam(n: number, role: ParamRole): void {
    const prev = this.params.get(n);
    if (prev && (prev.kind !== role.kind || JSON.stringify(keyOf(prev)) !== JSON.stringify(keyOf(role)))) {
      refuse('parameterTwoContexts', { n });
    }
    // A parameter both written and compared is checked as written: the assignment would fail.
    this.params.set(n, prev && 'assign' in prev && prev.assign ? { ...role, assign: true } as ParamRole : role);
  }


  /**
   * Set while a shape cache probe is analysed (shape-cache.ts): each constant's canonical text and
   * the same computation for another constant (throwing where this one refuses).
   */
  canonicals: Array<{ canon: string; again: (text: string) => string }> | null = null;

  canonical(ref: { column: CatalogColumn }, text: string): string {
    return this.canonicalBy(text, (t) => canonicalText(ref.column.typeOid, t));
  }

  /** The canonical text of a constant written into the column: its declared length applies. */
  assigned(ref: { column: CatalogColumn }, text: string): string {
    const { typeOid, typmod } = ref.column;
    return this.canonicalBy(text, (t) => assignedText(typeOid, typmod, t));
  }

  /** `form(text)`, refused as PostgreSQL would refuse the value; recorded for the shape cache. */
  private canonicalBy(text: string, form: (text: string) => string): string {
    let canon: string;
    try {
      canon = form(text);
    } catch (e) {
      if (e instanceof ValueTooLongError) refuse('valueTooLong', { error: e.message });
      refuse('invalidText', { error: (e as Error).message });
    }
    this.canonicals?.push({ canon, again: form });
    return canon;
  }
}

function keyOf(r: ParamRole): string {
  return 'ref' in r ? `${r.ref.table.table}.${r.ref.column.name}` : `${r.table.table}.${r.column.name}`;
}
