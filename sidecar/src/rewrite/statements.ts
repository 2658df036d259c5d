// Every statement kind of PostgreSQL's grammar, classified for the allowlist screen:
//   read     - reads only (a read-only user may run it);
//   write    - changes data, schema, privileges or server state (needs a read-write user);
//   session  - SET: allowed unless it changes a setting the analysis depends on;
//   opaque   - runs or installs code the proxy cannot see into, or changes what later sessions
//              mean (ALTER ROLE … SET): refused while a policy protects data.
// A kind missing from this table is refused too (a newer grammar's statement is not understood).
import type { AlterObjectSchemaStmt, AlterTableStmt, CreateStmt, DefineStmt, DropStmt, Node, RangeVar, RenameStmt, SelectStmt, VariableSetStmt } from '@pgsql/types';
import { arr, isObj, nodeBody, sval } from './ast.ts';
import type { Json } from './ast.ts';
import { refusalOf } from './refusals.ts';
import type { Catalog, CatalogTable } from './catalog.ts';
import { isHiddenName } from './hidden.ts';
import { isTestDatabaseOf } from './test-databases.ts';
import { setsPinnedSearchPath } from './search-path.ts';

type Base = 'read' | 'write' | 'session' | 'opaque';

const READ = ['SelectStmt', 'VariableShowStmt', 'TransactionStmt', 'DeclareCursorStmt', 'FetchStmt', 'ClosePortalStmt',
  'ListenStmt', 'UnlistenStmt', 'NotifyStmt', 'DiscardStmt', 'DeallocateStmt', 'ConstraintsSetStmt', 'ExplainStmt',
  'PrepareStmt', 'CopyStmt'];
const WRITE = ['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt', 'CreateStmt', 'IndexStmt', 'AlterTableStmt',
  'DropStmt', 'TruncateStmt', 'RenameStmt', 'AlterObjectSchemaStmt', 'AlterOwnerStmt', 'CommentStmt', 'SecLabelStmt',
  'GrantStmt', 'GrantRoleStmt', 'AlterDefaultPrivilegesStmt', 'LockStmt', 'VacuumStmt', 'ClusterStmt',
  'ReindexStmt', 'CheckPointStmt', 'CreateSeqStmt', 'AlterSeqStmt', 'ViewStmt', 'CreateTableAsStmt',
  'RefreshMatViewStmt', 'CreateSchemaStmt', 'CreateEnumStmt', 'AlterEnumStmt', 'CompositeTypeStmt',
  'CreateRangeStmt', 'CreateDomainStmt', 'AlterDomainStmt', 'CreateStatsStmt', 'AlterStatsStmt',
  'CreateTableSpaceStmt', 'DropTableSpaceStmt', 'AlterTableSpaceOptionsStmt', 'AlterTableMoveAllStmt',
  'CreateRoleStmt', 'AlterRoleStmt', 'DropRoleStmt', 'CreatedbStmt', 'AlterDatabaseStmt',
  'AlterDatabaseRefreshCollStmt', 'DropdbStmt', 'DropOwnedStmt', 'ReassignOwnedStmt', 'CreatePublicationStmt',
  'AlterPublicationStmt', 'DropSubscriptionStmt', 'AlterCollationStmt', 'AlterTSDictionaryStmt',
  'AlterTSConfigurationStmt', 'CreatePolicyStmt', 'AlterPolicyStmt', 'AlterTypeStmt', 'AlterObjectDependsStmt',
  'DefineStmt', 'ReplicaIdentityStmt', 'AlterOperatorStmt'];
const OPAQUE = ['DoStmt', 'CreateFunctionStmt', 'AlterFunctionStmt', 'CallStmt', 'CreateTrigStmt', 'RuleStmt',
  'CreateEventTrigStmt', 'AlterEventTrigStmt', 'CreatePLangStmt', 'CreateExtensionStmt', 'AlterExtensionStmt',
  'AlterExtensionContentsStmt', 'LoadStmt', 'CreateFdwStmt', 'AlterFdwStmt', 'CreateForeignServerStmt',
  'AlterForeignServerStmt', 'CreateForeignTableStmt', 'CreateUserMappingStmt', 'AlterUserMappingStmt',
  'DropUserMappingStmt', 'ImportForeignSchemaStmt', 'CreateCastStmt', 'CreateTransformStmt', 'CreateOpClassStmt',
  'CreateOpFamilyStmt', 'AlterOpFamilyStmt', 'CreateConversionStmt', 'CreateSubscriptionStmt',
  'AlterSubscriptionStmt', 'AlterSystemStmt', 'AlterRoleSetStmt', 'AlterDatabaseSetStmt', 'ExecuteStmt',
  'CreateAmStmt', 'ReturnStmt', 'PLAssignStmt'];

export const STATEMENT_CLASSES: Readonly<Record<string, Base>> = Object.fromEntries([
  ...READ.map((t) => [t, 'read']), ...WRITE.map((t) => [t, 'write']), ...OPAQUE.map((t) => [t, 'opaque']),
  ['VariableSetStmt', 'session'],
]) as Record<string, Base>;

export type StatementClass =
  | { kind: 'read' | 'write' | 'session'; everyDataset: boolean }
  | { kind: 'refuse'; code: string; message: string; everyDataset?: undefined };

const DML = new Set(['InsertStmt', 'UpdateStmt', 'DeleteStmt', 'MergeStmt']);

export function isDataModifying(tag: string): boolean {
  return DML.has(tag);
}

const WHY_OPAQUE: Record<string, string> = {
  ExecuteStmt: 'SQL-level EXECUTE is decided by the session, which knows the statement it runs; inside another statement (EXPLAIN, CREATE TABLE AS) it is not supported while a policy protects data',
  AlterRoleSetStmt: 'ALTER ROLE … SET changes the settings of later sessions behind the proxy',
  AlterDatabaseSetStmt: 'ALTER DATABASE … SET changes the settings of later sessions behind the proxy',
  AlterSystemStmt: 'ALTER SYSTEM changes server settings behind the proxy',
};

function refuse(why: string): StatementClass {
  const r = refusalOf('statement', { why });
  return { kind: 'refuse', code: r.code, message: r.message };
}

function label(tag: string): string {
  return tag.replace(/Stmt$/, '').replace(/([a-z])([A-Z])/g, '$1 $2').toUpperCase();
}

/** Names of the protected tables' schemas. */
function policySchemas(catalog: Catalog): Set<string> {
  return new Set(catalog.all().map((t) => t.schema));
}

function protectedTable(catalog: Catalog, rv: unknown): CatalogTable | undefined {
  const r: RangeVar | undefined = isObj(rv) ? rv : undefined;
  return r && typeof r.relname === 'string' ? catalog.lookup(r.schemaname, r.relname) : undefined;
}

function isProtected(catalog: Catalog, rv: unknown): boolean {
  return protectedTable(catalog, rv) !== undefined;
}

function protectedName(catalog: Catalog, name: string | undefined): boolean {
  return name !== undefined && catalog.isProtectedName(name);
}

const RENAME_SAFELY = 'the policy names it: to rename it, add the new name to the policy with the same protection, add it through the proxy (ALTER TABLE … ADD COLUMN / CREATE TABLE), copy the values through the proxy, then drop the old one and remove it from the policy (docs/sql-support.md)';

function hidden(t: CatalogTable, what: string): StatementClass {
  return refuse(refusalOf('hiddenStorage', { table: t, what }).message.replace(/^clarus: /, ''));
}

/**
 * RENAME inside a protected table: plain columns and constraints are plain DDL, unless the new
 * name is one the policy protects (the proxy would take the plain values for protected ones) or
 * one of the proxy's hidden names; protected columns, hidden storage and the table are refused.
 */
function renameIn(t: CatalogTable, type: string, from: string, to: string): StatementClass {
  if (type === 'OBJECT_TABCONSTRAINT') return renameConstraint(t, from, to);
  if (type === 'OBJECT_COLUMN') return renameColumn(t, from, to);
  // A trigger, policy or rule of the table keeps its place; anything else renames the table.
  if (NAMED_IN_TABLE.has(type)) return { kind: 'write', everyDataset: false };
  return refuse(`renaming protected table ${t.table} is not supported: ${RENAME_SAFELY}`);
}

const NAMED_IN_TABLE = new Set(['OBJECT_TRIGGER', 'OBJECT_POLICY', 'OBJECT_RULE']);
const isProtectedColumn = (t: CatalogTable, name: string): boolean => (t.byName.get(name)?.protection.kind ?? 'plain') !== 'plain';

function renameConstraint(t: CatalogTable, from: string, to: string): StatementClass {
  const name = [from, to].find((n) => n.startsWith('clarus:'));
  return name ? hidden(t, `constraint "${name}"`) : { kind: 'write', everyDataset: false };
}

function renameColumn(t: CatalogTable, from: string, to: string): StatementClass {
  const h = [from, to].find(isHiddenName);
  if (h) return hidden(t, `column ${h}`);
  if (isProtectedColumn(t, from)) return refuse(`renaming protected column ${t.table}.${from} is not supported: ${RENAME_SAFELY}`);
  if (isProtectedColumn(t, to)) return refuse(`renaming ${t.table}.${from} to ${to}, a column the policy names, is not supported: the proxy would take its plain values for protected ones`);
  return { kind: 'write', everyDataset: false };
}

/** RENAME: of a protected table or column, of a policy schema, or to a protected table's name. */
function rename(b: RenameStmt, catalog: Catalog): StatementClass {
  const type = String(b.renameType);
  if (type === 'OBJECT_SCHEMA' || type === 'OBJECT_DATABASE') {
    if (type === 'OBJECT_DATABASE' || policySchemas(catalog).has(String(b.subname)) || policySchemas(catalog).has(String(b.newname))) {
      return refuse(`renaming ${type === 'OBJECT_SCHEMA' ? `schema ${String(b.subname)}` : 'a database'} would move protected tables away from the policy's names; change the policy first`);
    }
  }
  const t = protectedTable(catalog, b.relation);
  if (t) return renameIn(t, type, String(b.subname ?? ''), String(b.newname ?? ''));
  if (protectedName(catalog, b.newname)) return refuse(`renaming an object to ${String(b.newname)}, the name of a protected table, is not supported`);
  return { kind: 'write', everyDataset: false };
}

const INHERIT_CMDS = new Set(['AT_AddInherit', 'AT_DropInherit', 'AT_AttachPartition', 'AT_DetachPartition', 'AT_DetachPartitionFinalize', 'AT_AddOf', 'AT_DropOf', 'AT_SetLogged', 'AT_SetUnLogged']);

const INHERIT_LABELS: Record<string, string> = {
  AT_AddInherit: 'INHERIT', AT_DropInherit: 'NO INHERIT', AT_AttachPartition: 'ATTACH PARTITION', AT_DetachPartition: 'DETACH PARTITION',
  AT_DetachPartitionFinalize: 'DETACH PARTITION FINALIZE', AT_AddOf: 'OF', AT_DropOf: 'NOT OF', AT_SetLogged: 'SET LOGGED', AT_SetUnLogged: 'SET UNLOGGED',
};

function alterTable(b: AlterTableStmt, catalog: Catalog): StatementClass {
  const target = isProtected(catalog, b.relation);
  for (const c of arr(b.cmds)) {
    const cmd = nodeBody(c, 'AlterTableCmd');
    if (!cmd || !INHERIT_CMDS.has(String(cmd.subtype))) continue;
    const other = nodeBody(cmd.def, 'PartitionCmd')?.name ?? nodeBody(cmd.def, 'RangeVar');
    if (target || isProtected(catalog, other)) {
      return refuse(`ALTER TABLE ${INHERIT_LABELS[String(cmd.subtype)] ?? String(cmd.subtype)} involving a protected table is not supported (rows would reach it through another table)`);
    }
  }
  return { kind: 'write', everyDataset: false };
}

function createTable(b: CreateStmt, catalog: Catalog): StatementClass {
  const parents = arr(b.inhRelations).map((r) => nodeBody(r, 'RangeVar'));
  if (parents.some((p) => isProtected(catalog, p))) return refuse('a table inheriting from (or a partition of) a protected table is not supported');
  if (b.ofTypename) return refuse('CREATE TABLE … OF type is not supported while a policy protects data');
  return { kind: 'write', everyDataset: false };
}

function moveSchema(b: AlterObjectSchemaStmt, catalog: Catalog): StatementClass {
  if (isProtected(catalog, b.relation)) return refuse(`moving protected table ${String(b.relation?.relname)} to another schema is not supported; change the policy first`);
  const rel = b.relation;
  if (rel && protectedName(catalog, String(rel.relname)) && policySchemas(catalog).has(String(b.newschema))) {
    return refuse(`moving a table named like protected table ${String(rel.relname)} into schema ${String(b.newschema)} is not supported`);
  }
  return { kind: 'write', everyDataset: false };
}

function drop(b: DropStmt, catalog: Catalog): StatementClass {
  if (b.removeType === 'OBJECT_SCHEMA') {
    const names = arr(b.objects).map((o) => sval(o));
    if (names.some((n) => n !== null && policySchemas(catalog).has(n))) return { kind: 'write', everyDataset: true };
  }
  return { kind: 'write', everyDataset: false };
}

function define(b: DefineStmt): StatementClass {
  if (b.kind === 'OBJECT_COLLATION' || b.kind === 'OBJECT_TSDICTIONARY' || b.kind === 'OBJECT_TSCONFIGURATION') return { kind: 'write', everyDataset: false };
  return refuse(`CREATE ${String(b.kind).replace('OBJECT_', '')} installs functions the proxy cannot see into; refused while a policy protects data`);
}

function select(b: SelectStmt): StatementClass {
  return { kind: b.intoClause || arr(b.lockingClause).length ? 'write' : 'read', everyDataset: false };
}

const everything = (): StatementClass => ({ kind: 'write', everyDataset: true });

const DATABASES = "the proxy connects clients only to the databases its configuration maps (a backend's name or its database; any other name is refused with 3D000); create or drop it on the backend, and give a database clients should reach a backend of its own (docs/operations.md)";

/** CREATE DATABASE options a test database may take: none places it elsewhere, names an owner or copies another database. */
const TEST_DATABASE_OPTIONS = new Set(['encoding', 'locale', 'lc_collate', 'lc_ctype', 'icu_locale', 'icu_rules', 'locale_provider', 'strategy', 'template', 'force']);

/** Why an option of CREATE/DROP DATABASE of a test database is refused, or null. */
function databaseOption(el: unknown, base: string): string | null {
  const d = nodeBody(el, 'DefElem');
  const name = String(d?.defname ?? '?');
  if (!TEST_DATABASE_OPTIONS.has(name)) return `option ${name.toUpperCase()}`;
  const template = name === 'template' ? sval(d?.arg) ?? '' : null;
  if (template !== null && template !== 'template0' && template !== 'template1' && !isTestDatabaseOf(base, template)) return `TEMPLATE ${template} (only template0, template1 or another test database)`;
  return null;
}

/**
 * CREATE/DROP DATABASE: a test database of the application's database (rewrite/test-databases.ts),
 * for a user who may write every dataset, as a test runner sends it; anything else is refused.
 */
function database(verb: 'CREATE' | 'DROP', b: { dbname?: string; options?: Node[] }, catalog: Catalog): StatementClass {
  const name = String(b.dbname ?? '');
  const base = catalog.testDatabaseBase;
  if (base === undefined || !isTestDatabaseOf(base, name)) {
    const tests = base === undefined ? '' : `; test databases (test_${base}, test_${base}_<suffix>) are the exception`;
    return refuse(`${verb} DATABASE ${name} through the proxy is refused: ${DATABASES}${tests}`);
  }
  const bad = arr(b.options).map((o) => databaseOption(o, base)).find((w) => w !== null);
  if (bad) return refuse(`${verb} DATABASE ${name} with ${bad} through the proxy is refused`);
  return everything();
}

/** Statement kinds whose class depends on their content (each handler reads its own kind's body). */
const BY_CONTENT: Record<string, (b: Json, catalog: Catalog) => StatementClass> = {
  SelectStmt: select,
  CopyStmt: (b) => ({ kind: b.is_from ? 'write' : 'read', everyDataset: false }),
  RenameStmt: rename,
  AlterTableStmt: alterTable,
  CreateStmt: createTable,
  AlterObjectSchemaStmt: moveSchema,
  DropStmt: drop,
  DefineStmt: define,
  TruncateStmt: (b) => ({ kind: 'write', everyDataset: b.behavior === 'DROP_CASCADE' }),
  // Two-phase commit keeps a transaction (its locks, its writes) alive beyond the session.
  TransactionStmt: (b) => ({ kind: /PREPARED?$/.test(String(b.kind)) ? 'write' : 'read', everyDataset: false }),
  DropOwnedStmt: everything,
  ReassignOwnedStmt: everything,
  CreatedbStmt: (b, catalog) => database('CREATE', b, catalog),
  DropdbStmt: (b, catalog) => database('DROP', b, catalog),
  AlterTableMoveAllStmt: everything,
  AlterDatabaseStmt: everything,
};

/** The class of one statement, with the rules that depend on its content. */
export function classOf(tag: string, b: Json, catalog: Catalog): StatementClass {
  const base = STATEMENT_CLASSES[tag];
  if (base === undefined) return refuse(`the proxy's analysis does not know the statement ${tag}; refused while a policy protects data`);
  if (base === 'opaque') return refuse(WHY_OPAQUE[tag] ?? `${label(tag)} runs or installs code the proxy cannot analyse; refused while a policy protects data`);
  const special = BY_CONTENT[tag];
  return special ? special(b, catalog) : { kind: base, everyDataset: false };
}

/**
 * Settings the analysis depends on are pinned at connection start (see io/session.ts): the
 * grammar's lexing (standard_conforming_strings, client_encoding, backslash_quote), name
 * resolution (search_path) and the identity whose privileges apply (role, session_authorization).
 * SET … TO DEFAULT, RESET and RESET ALL go back to the pinned values and are allowed.
 */
export const PINNED_SETTINGS: Readonly<Record<string, readonly string[]>> = {
  standard_conforming_strings: ['on', 'true', 'yes', '1'],
  client_encoding: ['utf8', 'utf-8', 'unicode'],
  search_path: [],
  backslash_quote: [],
  role: [],
  session_authorization: [],
  session_replication_role: [],
};

function settingValue(args: unknown[]): string {
  return args.map((a) => {
    const c = nodeBody(a, 'A_Const');
    const v = c ? c.sval?.sval ?? c.ival?.ival ?? c.boolval?.boolval : undefined;
    return String(v ?? '?');
  }).join(',').toLowerCase();
}

/** A refusal message when a SET changes a pinned setting, else null. */
export function settingRefusal(b: VariableSetStmt): string | null {
  const kind = String(b.kind);
  if (kind === 'VAR_RESET' || kind === 'VAR_RESET_ALL' || kind === 'VAR_SET_DEFAULT') return null;
  const name = String(b.name ?? '').toLowerCase();
  const allowed = PINNED_SETTINGS[name];
  if (allowed === undefined) return null;
  if (kind === 'VAR_SET_VALUE' && allowed.includes(settingValue(arr(b.args)))) return null;
  // The pinned schemas again, however spelled (Flyway sets them at every migration).
  if (kind === 'VAR_SET_VALUE' && name === 'search_path' && setsPinnedSearchPath(arr(b.args))) return null;
  return `${name} is pinned by the proxy while a policy protects data (the analysis depends on it); it cannot be changed in a session`;
}
