// CLARUS 1.0 XML security policy → SecurityPolicy + CloudBackend stubs, with the same meaning or a
// refusal. Every construct is mapped (with a note where the mapping is not word for word), dropped
// with a note when dropping it protects nothing less, or refused: the import never yields a policy
// that protects less than the XML asked (unless --partial, which marks the policy so that every
// validator refuses it). Pure: text in, objects out.
import {
  API_VERSION, IMPORT_PARTIAL_ANNOTATION, type AttributeType, type CloudBackend, type ColumnSpec, type DatasetSpec, type Protection, type SecurityPolicy,
} from '@clarus/crds/types.ts';
import { tableKey } from '@clarus/policy/rules/securitypolicy.ts';
import { backendsFrom, ensureBackends, useDatabaseNames } from './backends.ts';
import { readDocument, TYPES, type RawAttribute } from './document.ts';
import { IDENT, parseName, resolveName, type CatalogTable, type ResolvedColumn } from './names.ts';
import { mapRule, POINT_CLOUDS, type RuleMapping } from './rules.ts';
import { DEFAULT_RECORD_TABLE, recordColumns, recordNote, usesRecordTable } from './records.ts';
import { parseXml, type XmlElement } from './xml.ts';

export interface ImportOptions {
  name: string; namespace: string; tables?: CatalogTable[]; keyringSecret?: string; partial?: boolean;
  /** `--dataset-table`: the table holding the records of `<file>`/`<dataset>` containers. */
  datasetTable?: { schema?: string; table: string };
  /** `--row-key TABLE=COLUMN`: the row key of a split table whose CLARUS policy has no replicated technical identifier. */
  rowKeys?: Array<{ table: string; column: string }>;
}
export interface ImportResult {
  policy: SecurityPolicy;
  backends: CloudBackend[];
  /** What the import did that is not word for word, and what it dropped that protected nothing. */
  notes: string[];
  /** Why the policy would protect less than the XML (or cannot be read): any entry means no policy. */
  refusals: string[];
  /** Notes said next to a column, by `table/column` as printed. */
  columnNotes: Record<string, string[]>;
  /** Notes said next to an attribute type's default. */
  typeNotes: Partial<Record<AttributeType, string[]>>;
}

interface State { opts: ImportOptions; notes: string[]; refusals: string[]; columnNotes: Map<string, string[]> }
interface Column { at: ResolvedColumn; type: AttributeType; line: number; notes: string[] }

const lc = (s: string | undefined): string => (s ?? '').trim().toLowerCase();

const differ = (x: unknown, y: unknown): boolean => x !== undefined && y !== undefined && JSON.stringify(x) !== JSON.stringify(y);

/** Two rules for one attribute type (from different modules): one protection per column. */
function clashes(a: RuleMapping, b: RuleMapping): boolean {
  const p = a.protection;
  const q = b.protection;
  return Boolean((p.encrypt && q.anonymize) || (p.anonymize && q.encrypt) || (a.column && b.column))
    || differ(p.encrypt, q.encrypt) || differ(p.anonymize, q.anonymize);
}

function combine(prev: RuleMapping, m: RuleMapping, where: { type: AttributeType; line: number }, st: State): RuleMapping {
  if (clashes(prev, m)) st.refusals.push(`line ${where.line}: ${where.type} gets two protections from different rules; Clarus applies one protection per column`);
  const column = prev.column ?? m.column;
  const tCloseness = prev.tCloseness ?? m.tCloseness;
  return {
    protection: { ...prev.protection, ...m.protection }, ...(column ? { column } : {}),
    rowKey: Boolean(prev.rowKey || m.rowKey), ...(tCloseness !== undefined ? { tCloseness } : {}),
    protects: prev.protects || m.protects, notes: [...prev.notes, ...m.notes],
  };
}

function ruleElements(prot: XmlElement): XmlElement[] {
  return prot.children.flatMap((g) => (lc(g.name) === 'attribute_types' ? g.children : [g]));
}

/** The mapping per attribute type; `refused` holds the types whose rule was refused. */
function readRules(protections: XmlElement[], st: State): { rules: Map<AttributeType, RuleMapping>; refused: Set<AttributeType> } {
  const rules = new Map<AttributeType, RuleMapping>();
  const refused = new Set<AttributeType>();
  for (const prot of protections) {
    const module = prot.attrs.module ?? '';
    for (const rule of ruleElements(prot)) {
      const type = TYPES[lc(rule.attrs.type)];
      if (lc(rule.name) !== 'attribute_type' || !type) {
        st.refusals.push(`line ${rule.line}: <${rule.name}${rule.attrs.type ? ` type="${rule.attrs.type}"` : ''}> in module ${module} is not a CLARUS attribute_type rule; the import cannot tell what it protects`);
        continue;
      }
      const m = mapRule(module, rule, type, st);
      if (!m) {
        refused.add(type);
        continue;
      }
      const prev = rules.get(type);
      rules.set(type, prev ? combine(prev, m, { type, line: rule.line }, st) : m);
    }
  }
  return { rules, refused };
}

function protects(type: AttributeType, rules: Map<AttributeType, RuleMapping>, refused: Set<AttributeType>): boolean {
  return refused.has(type) || Boolean(rules.get(type)?.protects);
}

/** Refuses the attribute when it asks for protection, else drops it with a note; no columns either way. */
function dropOrRefuse(a: RawAttribute, why: string, asked: boolean, st: State): Column[] {
  if (asked) st.refusals.push(`line ${a.line}: attribute "${a.name}": ${why}; its protection would be lost`);
  else st.notes.push(`line ${a.line}: attribute "${a.name}" dropped (${why}); it asks for no protection, and columns a policy does not list pass through as they are`);
  return [];
}

/**
 * A SecurityPolicy names tables and columns as unquoted identifiers, which PostgreSQL folds to lower
 * case (and so does the proxy): `PUBLIC.Patient` is printed `public.patient`.
 */
const folded = (at: ResolvedColumn): ResolvedColumn => ({ ...(at.schema !== undefined ? { schema: at.schema.toLowerCase() } : {}), table: at.table.toLowerCase(), column: at.column.toLowerCase() });

const plain = (at: ResolvedColumn): boolean => IDENT.test(at.column) && IDENT.test(at.table) && (at.schema === undefined || IDENT.test(at.schema));

interface Resolving { asked: (t: AttributeType) => boolean; dbs: Set<string>; unqualified: Set<string>; st: State }

/** The columns one attribute reaches; what cannot be placed is refused or dropped (dropOrRefuse). */
function resolveAttribute(a: RawAttribute, ctx: Resolving): Column[] {
  const p = parseName(a.name);
  if (typeof p === 'string') return dropOrRefuse(a, p, ctx.asked(a.type), ctx.st);
  if (p.db !== undefined && p.db !== '*') ctx.dbs.add(p.db);
  const r = resolveName(p, ctx.st.opts.tables);
  if (!r.ok) return dropOrRefuse(a, r.reason, ctx.asked(a.type), ctx.st);
  const out: Column[] = [];
  for (const at of r.columns) {
    if (!plain(at)) {
      dropOrRefuse(a, `"${at.column}" in ${at.table} is not a plain SQL identifier, which a SecurityPolicy column must be`, ctx.asked(a.type), ctx.st);
      continue;
    }
    if (p.schema === undefined && at.schema === undefined) ctx.unqualified.add(at.table.toLowerCase());
    out.push({ at: folded(at), type: a.type, line: a.line, notes: r.note ? [`line ${a.line}: "${a.name}": ${r.note}`] : [] });
  }
  return out;
}

function resolveAttributes(attrs: RawAttribute[], asked: (t: AttributeType) => boolean, st: State, dbs: Set<string>): Column[] {
  const ctx: Resolving = { asked, dbs, unqualified: new Set(), st };
  const out = attrs.flatMap((a) => resolveAttribute(a, ctx));
  for (const t of ctx.unqualified) st.notes.push(`table ${t}: the CLARUS names give no schema (CLARUS: any schema); the dataset is ${t} as clients name it (schema public), and the proxy refuses statements on a table ${t} of another schema rather than pass them in clear; to protect such tables too, name them (--table SCHEMA.${t} or --from-backend)`);
  return out;
}

/** `<file>`/`<dataset>` attributes as the columns of one record table (records.ts). */
function recordTableColumns(joint: RawAttribute[], asked: (t: AttributeType) => boolean, st: State, dbs: Set<string>): Column[] {
  const table = st.opts.datasetTable ?? { table: DEFAULT_RECORD_TABLE };
  const m = recordColumns(joint, table, (a) => asked(a.type), st);
  for (const a of joint) {
    const p = parseName(a.name);
    if (typeof p !== 'string' && p.db !== undefined && p.db !== '*') dbs.add(p.db);
  }
  st.notes.push(recordNote(table, m.sources, st.opts.datasetTable !== undefined));
  return m.columns.map((c) => ({ at: c.at, type: c.attribute.type, line: c.attribute.line, notes: [c.note] }));
}

/** Every attribute's columns: `<data>` per table, `<file>`/`<dataset>` as records where records.ts says so. */
function columnsOf(attrs: RawAttribute[], asked: (t: AttributeType) => boolean, st: State, dbs: Set<string>): Column[] {
  const joint = attrs.filter((a) => a.container === 'joint');
  if (!usesRecordTable(joint, st.opts.datasetTable)) return resolveAttributes(attrs, asked, st, dbs);
  return [...resolveAttributes(attrs.filter((a) => a.container !== 'joint'), asked, st, dbs), ...recordTableColumns(joint, asked, st, dbs)];
}

function printedTable(c: ResolvedColumn): string {
  return c.schema !== undefined ? `${c.schema}.${c.table}` : c.table;
}

/** Columns grouped by table (one group per table whatever its spelling), each column once. */
function byTable(cols: Column[], st: State): Map<string, { table: string; columns: Column[] }> {
  const tables = new Map<string, { table: string; columns: Column[] }>();
  for (const c of cols) {
    const key = tableKey(printedTable(c.at));
    const t = tables.get(key) ?? { table: printedTable(c.at), columns: [] };
    tables.set(key, t);
    const same = t.columns.find((x) => x.at.column.toLowerCase() === c.at.column.toLowerCase());
    if (!same) {
      t.columns.push(c);
      continue;
    }
    if (same.type !== c.type) st.refusals.push(`line ${c.line}: column ${t.table}.${c.at.column} is also ${same.type} (line ${same.line}); CLARUS's choice between the two cannot be told`);
    else same.notes.push(`also named at line ${c.line}`);
  }
  return tables;
}

function datasetName(table: string, used: Set<string>): string {
  const base = table.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 58) || 'dataset';
  let name = base;
  for (let i = 2; used.has(name); i++) name = `${base}-${i}`;
  used.add(name);
  return name;
}

function checkTCloseness(tables: Array<{ table: string; columns: Column[] }>, rules: Map<AttributeType, RuleMapping>, st: State): void {
  const t = rules.get('confidential')?.tCloseness;
  if (t === undefined) return;
  const k = rules.get('quasiIdentifier')?.protection.anonymize?.kAnonymity;
  if (!k) {
    st.refusals.push(`t-closeness t=${t} needs k-anonymity of the quasi-identifiers, which the policy does not ask for`);
    return;
  }
  k.tCloseness = Math.min(t, k.tCloseness ?? t);
  for (const tb of tables.filter((x) => x.columns.some((c) => c.type === 'confidential') && !x.columns.some((c) => c.type === 'quasiIdentifier'))) {
    st.refusals.push(`t-closeness of the confidential columns of ${tb.table}: no quasi-identifier of ${tb.table} is k-anonymized, and Clarus keeps t-close the groups of the same table only`);
  }
}

function dataset(t: { table: string; columns: Column[] }, rules: Map<AttributeType, RuleMapping>, used: Set<string>, st: State): DatasetSpec {
  const columns: ColumnSpec[] = t.columns.map((c) => {
    const override = rules.get(c.type)?.column;
    const spec: ColumnSpec = override ? { name: c.at.column, ...override } : { name: c.at.column, attributeType: c.type };
    if (override) c.notes.push(...(rules.get(c.type)?.notes ?? []));
    st.columnNotes.set(`${t.table}/${c.at.column}`, c.notes);
    return spec;
  });
  const keys = t.columns.filter((c) => c.type === 'technicalIdentifier' && rules.get('technicalIdentifier')?.rowKey);
  if (keys.length > 1) st.notes.push(`table ${t.table}: several replicated technical identifiers; rowKey is ${keys[0]?.at.column}`);
  const rowKey = keys[0]?.at.column ?? splitRowKey(t.table, columns, rules, st);
  return { name: datasetName(t.table, used), table: t.table, ...(rowKey ? { rowKey } : {}), columns };
}

/**
 * A table whose points are split needs a row key to join the fragments. CLARUS's splitting module
 * joined by row order when the policy replicated no technical identifier; Clarus cannot, so the
 * key is `--row-key TABLE=COLUMN` (that column becomes the technicalIdentifier, stored as is on
 * every backend) or the import is refused.
 */
function splitRowKey(table: string, columns: ColumnSpec[], rules: Map<AttributeType, RuleMapping>, st: State): string | undefined {
  if (!columns.some((c) => c.protection?.split)) return undefined;
  const col = givenRowKey(table, columns, st);
  if (!col) return undefined;
  if (Object.keys(col.protection ?? rules.get(col.attributeType)?.protection ?? {}).length > 0) {
    st.refusals.push(`--row-key ${table}=${col.name}: the row key is stored as is on every backend, and the CLARUS policy protects ${col.name}`);
    return undefined;
  }
  st.columnNotes.set(`${table}/${col.name}`, [...(st.columnNotes.get(`${table}/${col.name}`) ?? []), `--row-key: ${col.attributeType} → technicalIdentifier, the row key stored as is on every backend (CLARUS replicated no identifier and joined the clouds' rows by order)`]);
  col.attributeType = 'technicalIdentifier';
  return col.name;
}

/** The column `--row-key TABLE=COLUMN` names for the table, or a refusal. */
function givenRowKey(table: string, columns: ColumnSpec[], st: State): ColumnSpec | undefined {
  const given = st.opts.rowKeys?.find((k) => tableKey(k.table) === tableKey(table));
  const col = given ? columns.find((c) => c.name.toLowerCase() === given.column.toLowerCase()) : undefined;
  if (!col) st.refusals.push(`table ${table}: its points are split across backends, which needs a row key to join the parts, and the CLARUS policy replicates no technical_identifier (CLARUS joined by row order); name one with --row-key ${table}=COLUMN${given ? ` (${given.column} is not a column the policy lists)` : ''}`);
  return col;
}

function partialAnnotation(refusals: string[]): Record<string, string> {
  const first = refusals[0] ?? '';
  return { [IMPORT_PARTIAL_ANNOTATION]: `${refusals.length} refusal(s) of clarus policy import, first: ${first.length > 200 ? `${first.slice(0, 200)}…` : first}` };
}

export function importClarus1(xml: string, opts: ImportOptions): ImportResult {
  const st: State = { opts, notes: [], refusals: [], columnNotes: new Map() };
  const doc = readDocument(parseXml(xml), st);
  const backends = backendsFrom(doc.protocol, opts.namespace, st);
  const { rules, refused } = readRules(doc.protections, st);
  if ([...rules.values()].some((r) => r.column?.protection.split?.coordinates)) ensureBackends(POINT_CLOUDS, backends, opts.namespace, st);
  const dbs = new Set<string>();
  const cols = columnsOf(doc.attributes, (t) => protects(t, rules, refused), st, dbs);
  useDatabaseNames(dbs, backends, st);
  const tables = [...byTable(cols, st).values()];
  checkTCloseness(tables, rules, st);
  const used = new Set<string>();
  const datasets = tables.map((t) => dataset(t, rules, used, st));
  const attributeTypes = Object.fromEntries([...rules.entries()].filter(([, r]) => Object.keys(r.protection).length > 0).map(([t, r]) => [t, r.protection]));
  if (opts.tables) st.notes.push('patterns were expanded against the tables known at import (--table, --catalog, --from-backend); a table created later is not covered until the import is run again');
  const policy = policyOf(st, { backends, attributeTypes, datasets });
  if (datasets.length === 0 && st.refusals.length === 0) st.notes.push('no attribute reaches a table: a pass-through policy (the CLARUS policy protects nothing either)');
  return { policy, backends, notes: st.notes, refusals: st.refusals, columnNotes: Object.fromEntries(st.columnNotes), typeNotes: typeNotesOf(rules, attributeTypes, st) };
}

function policyOf(st: State, parts: { backends: CloudBackend[]; attributeTypes: Record<string, Protection>; datasets: DatasetSpec[] }): SecurityPolicy {
  const { opts } = st;
  return {
    apiVersion: API_VERSION, kind: 'SecurityPolicy',
    metadata: { name: opts.name, namespace: opts.namespace, ...(opts.partial && st.refusals.length > 0 ? { annotations: partialAnnotation(st.refusals) } : {}) },
    spec: {
      backends: parts.backends.map((b) => b.metadata.name),
      keyring: { secretName: opts.keyringSecret ?? `${opts.name}-keys` },
      onUnsupported: 'reject',
      ...(Object.keys(parts.attributeTypes).length > 0 ? { attributeTypes: parts.attributeTypes } : {}),
      datasets: parts.datasets,
    },
  };
}

/** Notes per attribute type the policy defines; the notes of the others go to the general notes. */
function typeNotesOf(rules: Map<AttributeType, RuleMapping>, attributeTypes: Record<string, Protection>, st: State): Record<string, string[]> {
  for (const [t, r] of rules) {
    if (!(t in attributeTypes) && !r.column) st.notes.push(...r.notes.map((n) => `${t}: ${n}`));
  }
  return Object.fromEntries([...rules.entries()].filter(([t, r]) => r.notes.length > 0 && t in attributeTypes).map(([t, r]) => [t, r.notes]));
}
