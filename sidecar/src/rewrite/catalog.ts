// The logical schema the rewriter works from: the policy's datasets, plus what CREATE TABLE
// statements seen by this proxy taught it (full column list and declared types). Columns the
// policy lists but no CREATE TABLE declared default to `text` as their client-facing type.
import type { RuntimeColumn, RuntimePolicy } from '../../../crds/src/runtime/config.ts';
import type { AnonymizeProtection } from '../../../crds/src/types.ts';
import { OID } from '../protection/encryption/canonical.ts';
import type { ModeName } from '../protection/encryption/header.ts';

export type ColumnProtection =
  | { kind: 'plain' }
  | { kind: 'encrypt'; mode: ModeName; searchable: boolean; keyName: string }
  | { kind: 'anonymize'; spec: AnonymizeProtection };

export interface CatalogColumn {
  name: string;
  protection: ColumnProtection;
  /** Client-facing (declared) type OID. */
  typeOid: number;
}

export interface CatalogTable {
  dataset: string;
  schema: string;
  table: string;
  columns: CatalogColumn[];
  byName: Map<string, CatalogColumn>;
  /**
   * Policy columns placed on a backend other than the policy's default one. Splitting is not
   * implemented, so a statement touching such a table is refused (see split.ts).
   */
  split: ReadonlyArray<{ column: string; backend: string }>;
}

/** Suffix of the hidden blind-index column of a searchable column. */
export const BIDX_SUFFIX = '__bidx';

export function isEncrypted(c: CatalogColumn): c is CatalogColumn & { protection: { kind: 'encrypt' } } {
  return c.protection.kind === 'encrypt';
}

function protectionOf(c: RuntimeColumn): ColumnProtection {
  if (c.encrypt) return { kind: 'encrypt', mode: c.encrypt.mode, searchable: c.encrypt.searchable, keyName: c.encrypt.keyName };
  if (c.anonymize) return { kind: 'anonymize', spec: c.anonymize };
  return { kind: 'plain' };
}

export class Catalog {
  private readonly tables = new Map<string, CatalogTable>();
  /** Tables whose declared columns are known (from a CREATE TABLE or the backend catalog). */
  private readonly loaded = new Set<string>();
  /** Lower-case table names, for the cheap textual pre-check. */
  readonly names: string[];

  constructor(policy: RuntimePolicy) {
    for (const d of policy.datasets) {
      const columns = d.columns.map((c) => ({ name: c.name, protection: protectionOf(c), typeOid: OID.text as number }));
      const split = d.columns.filter((c) => c.backend !== policy.defaultBackend).map((c) => ({ column: c.name, backend: c.backend }));
      this.tables.set(`${d.schema}.${d.table}`, { dataset: d.name, schema: d.schema, table: d.table, columns, byName: new Map(columns.map((c) => [c.name, c])), split });
    }
    this.names = [...new Set(policy.datasets.map((d) => d.table.toLowerCase()))];
  }

  /**
   * Resolves a table name. An unqualified name is taken as public.<name> when the policy has it,
   * else as the policy table of that name in any schema: the session's search_path is not
   * tracked, so an unqualified name is assumed protected whenever it could be (fail closed).
   */
  lookup(schema: string | undefined, table: string): CatalogTable | undefined {
    if (schema !== undefined) return this.tables.get(`${schema}.${table}`);
    return this.tables.get(`public.${table}`) ?? this.all().find((t) => t.table === table);
  }

  /** Is `name` (as written, after the parser's case folding) the name of a protected table in any schema? */
  isProtectedName(name: string): boolean {
    return this.all().some((t) => t.table === name);
  }

  all(): CatalogTable[] {
    return [...this.tables.values()];
  }

  /**
   * Records the declared column list of a protected table (from a CREATE TABLE). Columns the
   * policy does not list become plain columns; policy columns keep their protection.
   */
  learn(schema: string, table: string, declared: Array<{ name: string; typeOid: number }>): void {
    const t = this.lookup(schema, table);
    if (!t) return;
    const columns = declared.map((d) => {
      const known = t.byName.get(d.name);
      return { name: d.name, protection: known ? known.protection : ({ kind: 'plain' } as const), typeOid: d.typeOid };
    });
    for (const c of t.columns) if (!columns.some((x) => x.name === c.name)) columns.push(c);
    t.columns = columns;
    t.byName = new Map(columns.map((c) => [c.name, c]));
    this.loaded.add(`${schema}.${table}`);
  }

  unloaded(): CatalogTable[] {
    return this.all().filter((t) => !this.loaded.has(`${t.schema}.${t.table}`));
  }
}
