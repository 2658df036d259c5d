// The logical schema the rewriter works from: the policy's datasets, plus what the backend's
// committed catalog says of their tables (full column list and declared types), loaded by
// access/catalog-loader.ts. Never from statement text: a CREATE TABLE that was refused, rolled
// back or skipped must not change what the proxy believes. Columns the policy lists but the
// backend has not shown default to `text` as their client-facing type.
import type { RuntimeColumn, RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import type { AnonymizeProtection, MaskedView } from '@clarus/crds/types.ts';
import { OID } from '../protection/encryption/canonical.ts';
import { decodeHeader, keyNameId } from '../protection/encryption/header.ts';
import type { ModeName } from '../protection/encryption/header.ts';
import { anonymizeText } from '../protection/anonymize-write.ts';
import type { ProxyView } from './views.ts';

export type ColumnProtection =
  | { kind: 'plain' }
  | { kind: 'encrypt'; mode: ModeName; searchable: boolean; keyName: string; maskedView?: MaskedView }
  | { kind: 'anonymize'; spec: AnonymizeProtection };

/** A column as the backend's catalog declares it (see access/catalog-loader.ts). */
export interface DeclaredColumn {
  name: string;
  typeOid: number;
  /** The declared type's modifier (atttypmod: a length, a precision), when it has one. */
  typmod?: number;
  defaulted?: boolean;
  domain?: boolean;
  /** The DEFAULT expression as the backend shows it (pg_get_expr), when it is a DEFAULT and not GENERATED. */
  defaultExpr?: string;
  /** NOT NULL in the backend. */
  notNull?: boolean;
  /**
   * A column of a split table stored on another backend (issue 12): the backend that holds it.
   * Kept apart from the table's own columns (`CatalogTable.remote`), shown by the logical catalog.
   */
  backend?: string;
  /** Not a column: an index or constraint of a split table on the backend `backend` (see RemoteObject). */
  object?: RemoteObject;
}

/** A split table's column stored on another backend, as that backend declares it. */
export interface RemoteColumn { name: string; backend: string; typeOid: number; typmod?: number; notNull: boolean }

/**
 * A split table's index (with the UNIQUE constraint it backs, if any) or CHECK constraint on
 * another backend, as that backend shows it (issue 12): what catalog introspection through the
 * proxy adds to the home fragment's (logical-catalog-split.ts). The row key's primary key is the
 * home fragment's; the other fragments' are not objects of the logical table.
 */
export interface RemoteObject {
  kind: 'index' | 'check';
  /** The index's name, or the CHECK constraint's. */
  name: string;
  /** Key and INCLUDE columns (an index) or the columns a CHECK reads, by name (a blind index as its column; '' for an expression). */
  columns: string[];
  unique: boolean;
  /** A btree index over columns only (no expression, no predicate): what pg_index can show as it is. */
  plain: boolean;
  /** pg_get_indexdef / pg_get_constraintdef on that backend, and pretty-printed (psql's). */
  definition: string;
  pretty: string;
  /** The UNIQUE constraint the index backs. */
  constraint?: { name: string; definition: string; pretty: string };
  /** The backend that holds it (set when the catalog learns it). */
  backend?: string;
  /**
   * An index's pg_index fields on that backend: access method name, key column count (the rest of
   * `columns` are INCLUDE columns), its operator classes and collations as JSON arrays of
   * [schema, name] (null for none), indoption (space-separated numbers).
   */
  index?: { am: string; keys: number; classes: string; collations: string; options: string };
}

export interface CatalogColumn {
  name: string;
  protection: ColumnProtection;
  /** Client-facing (declared) type OID. */
  typeOid: number;
  /** The declared type's modifier, when the backend's type record has one (see rules/create-table.ts typeRecord). */
  typmod?: number;
  /** The policy's classification (k-anonymity batches need the confidential columns for t-closeness). */
  attributeType?: RuntimeColumn['attributeType'];
}

export interface CatalogTable {
  dataset: string;
  schema: string;
  table: string;
  /** The table's columns in the backend's order (the policy's columns until loaded). */
  columns: CatalogColumn[];
  /** Every column the proxy knows by name, policy columns the table lacks included. */
  byName: Map<string, CatalogColumn>;
  /** The policy's columns: what the table falls back to when the backend does not have it. */
  readonly policyColumns: readonly CatalogColumn[];
  /**
   * Why the backend's table cannot be protected as it is (a protected column with a DEFAULT,
   * GENERATED expression or domain type, made outside the proxy): every statement on it is refused.
   */
  unsafe?: string;
  /**
   * Policy columns placed on a backend other than the policy's default one. Splitting is not
   * implemented, so a statement touching such a table is refused (see split.ts).
   */
  split: ReadonlyArray<{ column: string; backend: string; coordinates?: [string, string] }>;
  /** The dataset's row key (splitting joins fragments on it; a foreign key that names no column references it). */
  rowKey?: string;
  /**
   * A split table's columns stored on the other backends (their fragments, row key left out), in
   * backend then column order: what catalog introspection through the proxy adds to the home
   * fragment's columns (logical-catalog.ts). Empty until loaded.
   */
  remote?: readonly RemoteColumn[];
  /** A split table's indexes and CHECK constraints on the other backends (backend order). Empty until loaded. */
  remoteObjects?: readonly RemoteObject[];
}

export function isEncrypted(c: CatalogColumn): c is CatalogColumn & { protection: { kind: 'encrypt' } } {
  return c.protection.kind === 'encrypt';
}

function protectionOf(c: RuntimeColumn): ColumnProtection {
  if (c.encrypt) {
    const { mode, searchable, keyName, maskedView } = c.encrypt;
    return { kind: 'encrypt', mode, searchable, keyName, ...(maskedView ? { maskedView } : {}) };
  }
  if (c.anonymize) return { kind: 'anonymize', spec: c.anonymize };
  return { kind: 'plain' };
}

/**
 * Whether a protected column's DEFAULT stores only protected values, as the proxy sets one
 * (rules/alter-table.ts): a bytea constant that is a ciphertext of the column's mode and key
 * (header checked), or a constant the column's anonymization leaves as it is.
 */
function protectedDefault(p: ColumnProtection, d: DeclaredColumn): boolean {
  const e = d.defaultExpr ?? '';
  if (p.kind === 'encrypt') {
    const hex = /^'\\x([0-9a-f]*)'::bytea$/.exec(e)?.[1];
    if (hex === undefined) return false;
    try {
      const h = decodeHeader(Buffer.from(hex, 'hex'));
      return h.mode === p.mode && h.keyId === keyNameId(p.keyName);
    } catch {
      return false;
    }
  }
  if (p.kind !== 'anonymize') return true;
  const text = /^'((?:[^']|'')*)'(?:::[a-z ]+)?$/.exec(e)?.[1]?.replace(/''/g, "'");
  return text !== undefined && anonymizeText(p.spec, text, d.typeOid) === text;
}

function remoteColumn(d: DeclaredColumn): RemoteColumn {
  return { name: d.name, backend: d.backend as string, typeOid: d.typeOid, ...(d.typmod !== undefined ? { typmod: d.typmod } : {}), notNull: d.notNull === true };
}

/** A split table's columns, indexes and constraints on other backends, from loaded entries with a `backend`. */
function learnRemote(t: CatalogTable, loaded: readonly DeclaredColumn[]): void {
  const remote = loaded.filter((d) => d.backend !== undefined && d.object === undefined);
  if (remote.length > 0 || t.remote) t.remote = remote.map(remoteColumn);
  const objects = loaded.flatMap((d) => (d.object ? [d.backend ? { ...d.object, backend: d.backend } : d.object] : []));
  if (objects.length > 0 || t.remoteObjects) t.remoteObjects = objects;
}

const NONE: readonly CatalogTable[] = Object.freeze([]);

export class Catalog {
  private readonly tables = new Map<string, CatalogTable>();
  /** Tables whose declared columns are known (from a CREATE TABLE or the backend catalog). */
  private readonly loaded = new Set<string>();
  /** Lower-case table names, for the cheap textual pre-check. */
  readonly names: string[];
  /** The database whose test databases may be created and dropped through the proxy (rewrite/test-databases.ts). */
  readonly testDatabaseBase: string | undefined;
  /** Views over protected tables the proxy keeps (views.ts), by `schema.name`, as last loaded from the backend. */
  private views = new Map<string, ProxyView>();
  /** Whether the views were loaded at least once. */
  viewsLoaded = false;
  /** Key name → how many versions the keyring lists (the live versions an equality must match). */
  private readonly keyVersions: Map<string, number>;

  constructor(policy: RuntimePolicy, opts: { testDatabaseBase?: string } = {}) {
    this.testDatabaseBase = opts.testDatabaseBase;
    this.keyVersions = new Map(policy.keyring.keys.map((k) => [k.name, new Set(k.versions).size]));
    for (const d of policy.datasets) {
      const columns = d.columns.map((c): CatalogColumn => ({ name: c.name, protection: protectionOf(c), typeOid: OID.text as number, attributeType: c.attributeType }));
      const split = d.columns.filter((c) => c.backend !== policy.defaultBackend).map((c) => ({ column: c.name, backend: c.backend, ...(c.coordinates ? { coordinates: c.coordinates } : {}) }));
      this.tables.set(`${d.schema}.${d.table}`, { dataset: d.name, schema: d.schema, table: d.table, columns, byName: new Map(columns.map((c) => [c.name, c])), policyColumns: columns, split, ...(d.rowKey ? { rowKey: d.rowKey } : {}) });
    }
    this.names = [...new Set(policy.datasets.map((d) => d.table.toLowerCase()))];
  }

  /**
   * How many stored forms an equality on a column of this key matches (one per live key version,
   * as the keyring lists them; the executor checks it when it fills the plan).
   */
  liveVersions(keyName: string): number {
    return this.keyVersions.get(keyName) ?? 1;
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

  /** Does a protected table have columns on other backends (split)? Asked before every statement: no copy. */
  anySplit(): boolean {
    for (const t of this.tables.values()) if (t.split.length > 0) return true;
    return false;
  }

  /**
   * Sets what the backend's committed catalog says of a protected table: its columns in order
   * with their declared types (undefined: the table does not exist there). Columns the policy
   * does not list are plain; policy columns keep their protection, and those the table lacks
   * stay known by name only (a statement naming one fails at the backend). Entries with a
   * `backend` are a split table's columns stored elsewhere: they go to `remote`.
   */
  learn(schema: string, table: string, loaded: DeclaredColumn[] | undefined): boolean {
    const t = this.lookup(schema, table);
    if (!t) return false;
    const key = `${schema}.${table}`;
    const before = this.stateOf(t, key);
    this.learnInto(t, key, table, loaded);
    return this.stateOf(t, key) !== before;
  }

  /** Everything `learn` sets of a table, as one comparable string (loads are rare; statements never ask). */
  private stateOf(t: CatalogTable, key: string): string {
    return JSON.stringify([this.loaded.has(key), t.columns, t.remote ?? null, t.remoteObjects ?? null, t.unsafe ?? null]);
  }

  private learnInto(t: CatalogTable, key: string, table: string, loaded: DeclaredColumn[] | undefined): void {
    delete t.unsafe;
    learnRemote(t, loaded ?? []);
    const declared = loaded?.filter((d) => d.backend === undefined);
    if (!declared) {
      t.columns = [...t.policyColumns];
      t.byName = new Map(t.columns.map((c) => [c.name, c]));
      this.loaded.delete(key);
      return;
    }
    const policy = new Map(t.policyColumns.map((c) => [c.name, c]));
    t.columns = declared.map((d): CatalogColumn => {
      const known = policy.get(d.name);
      return { name: d.name, protection: known?.protection ?? ({ kind: 'plain' } as const), typeOid: d.typeOid, ...(d.typmod !== undefined ? { typmod: d.typmod } : {}), ...(known?.attributeType ? { attributeType: known.attributeType } : {}) };
    });
    t.byName = new Map([...t.policyColumns, ...t.columns].map((c) => [c.name, c]));
    this.loaded.add(key);
    const bad = declared.find((d) => {
      const p = policy.get(d.name)?.protection;
      return p !== undefined && p.kind !== 'plain' && (d.domain || (d.defaulted && !protectedDefault(p, d)));
    });
    if (bad) {
      t.unsafe = `protected column ${table}.${bad.name} has ${bad.domain ? 'a domain type' : 'a DEFAULT or GENERATED expression'} in the backend, which would store values the proxy never protects; remove it (ALTER TABLE … ALTER COLUMN ${bad.name} ${bad.domain ? 'TYPE <base type>' : 'DROP DEFAULT / DROP EXPRESSION'})`;
    }
  }

  /** Sets the views the backend holds (replacing what was known). False when they are what was known. */
  setViews(views: readonly ProxyView[]): boolean {
    const same = this.viewsLoaded && JSON.stringify([...this.views.values()]) === JSON.stringify(views);
    this.views = new Map(views.map((v) => [`${v.schema}.${v.name}`, v]));
    this.viewsLoaded = true;
    return !same;
  }

  view(schema: string, name: string): ProxyView | undefined {
    return this.views.get(`${schema}.${name}`);
  }

  hasViews(): boolean {
    return this.views.size > 0;
  }

  allViews(): ProxyView[] {
    return [...this.views.values()];
  }

  /** Whether the table's columns are the backend's (loaded), not only the policy's. */
  isLoaded(t: CatalogTable): boolean {
    return this.loaded.has(`${t.schema}.${t.table}`);
  }

  /** Forgets what was loaded: every table is loaded again before its next use. */
  forget(): void {
    this.loaded.clear();
  }

  /** The tables whose columns are not loaded; asked before statements, so no copy once all are (`loaded` only holds keys of `tables`: learn). */
  unloaded(): readonly CatalogTable[] {
    if (this.loaded.size === this.tables.size) return NONE;
    return this.all().filter((t) => !this.loaded.has(`${t.schema}.${t.table}`));
  }
}
