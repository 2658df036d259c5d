// CLARUS 1.0 XML security policy → SecurityPolicy + CloudBackend stubs. Every construct is either
// mapped (possibly with a note on how) or listed in `unmapped` with its line and reason.
// Pure: text in, objects out.
import { API_VERSION, type AttributeType, type AttributeTypeDefault, type CloudBackend, type ColumnSpec, type DatasetSpec, type SecurityPolicy } from '@clarus/crds/types.ts';
import { parseXml, type XmlElement } from './xml.ts';
import { mapRule, type RuleMapping } from './rules.ts';

export interface ImportOptions { name: string; namespace: string; wildcardTable?: string; keyringSecret?: string }
export interface ImportResult { policy: SecurityPolicy; backends: CloudBackend[]; notes: string[]; unmapped: string[] }

const TYPES: Record<string, AttributeType> = {
  identifier: 'identifier', quasi_identifier: 'quasiIdentifier', confidential: 'confidential',
  non_confidential: 'nonConfidential', technical_identifier: 'technicalIdentifier',
};
const DATA_TYPES = new Set(['categoric', 'categoric_ordinal', 'numeric_discrete', 'numeric_continuous', 'date', 'geometric_object', 'semantic', 'text']);
const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/;
const DEFAULT_DATABASE = 'postgres';

interface Attr { db?: string; table: string; column: string; type: AttributeType; dataType?: string; line: number }

interface State { opts: ImportOptions; notes: string[]; unmapped: string[] }

function parseName(name: string, line: number, st: State): { db?: string; table: string; column: string } | undefined {
  const parts = name.split('/');
  if (parts.length < 2 || parts.length > 3) return void st.unmapped.push(`line ${line}: attribute name "${name}": expected [db/][schema.]table/column`);
  const column = parts[parts.length - 1] ?? '';
  let table = parts[parts.length - 2] ?? '';
  const db = parts.length === 3 ? parts[0] : undefined;
  if (column.includes('*')) return void st.unmapped.push(`line ${line}: attribute "${name}": a column wildcard cannot be mapped; a SecurityPolicy lists its columns by name`);
  if (table.includes('*')) {
    if (!st.opts.wildcardTable) return void st.unmapped.push(`line ${line}: attribute "${name}": a table wildcard cannot be mapped; name the table, or pass --wildcard-table TABLE`);
    st.notes.push(`line ${line}: table wildcard in "${name}" mapped to ${st.opts.wildcardTable}`);
    table = st.opts.wildcardTable;
  }
  if (!table.split('.').every((p) => IDENT.test(p)) || !IDENT.test(column)) return void st.unmapped.push(`line ${line}: attribute "${name}": not a plain SQL identifier`);
  return { ...(db && db !== '*' ? { db } : {}), table, column };
}

function readAttributes(data: XmlElement | undefined, st: State): Attr[] {
  const out: Attr[] = [];
  for (const el of data?.children ?? []) {
    if (el.name !== 'attribute') {
      st.unmapped.push(`line ${el.line}: <${el.name}> inside <data> is not a CLARUS attribute`);
      continue;
    }
    const type = TYPES[el.attrs.attribute_type ?? ''];
    if (!type) {
      st.unmapped.push(`line ${el.line}: attribute_type "${el.attrs.attribute_type ?? ''}" is not one of ${Object.keys(TYPES).join(', ')}`);
      continue;
    }
    const n = parseName(el.attrs.name ?? '', el.line, st);
    if (!n) continue;
    const dt = el.attrs.data_type;
    if (dt && !DATA_TYPES.has(dt)) st.notes.push(`line ${el.line}: data_type "${dt}" is unknown; ignored (the proxy reads column types from the database)`);
    out.push({ ...n, type, ...(dt ? { dataType: dt } : {}), line: el.line });
  }
  return out;
}

function backendsFrom(protocol: XmlElement | undefined, st: State): CloudBackend[] {
  if (protocol && protocol.attrs.plugin !== 'PostgreSQL') st.unmapped.push(`line ${protocol.line}: protocol plugin "${protocol.attrs.plugin ?? ''}": only PostgreSQL is supported`);
  const params = (protocol?.children ?? []).filter((c) => c.name === 'parameter');
  const csps = new Map<number, Record<string, string>>();
  for (const p of params) {
    const m = /^csp([1-9][0-9]?)$/.exec(p.attrs.param ?? '');
    if (!m?.[1]) {
      st.unmapped.push(`line ${p.line}: protocol parameter "${p.attrs.param ?? ''}" is not cspN`);
      continue;
    }
    const kv = Object.fromEntries((p.attrs.value ?? '').split(/[;,\s]+/).filter(Boolean).map((s) => s.split('=', 2) as [string, string]));
    csps.set(Number(m[1]), kv);
  }
  if (csps.size === 0) csps.set(1, {});
  return [...csps.entries()].sort(([a], [b]) => a - b).map(([n, kv]) => backendStub(`csp${n}`, kv, st));
}

function backendStub(name: string, kv: Record<string, string>, st: State): CloudBackend {
  const known = new Set(['host', 'port', 'database', 'dbname']);
  for (const k of Object.keys(kv).filter((x) => !known.has(x))) st.unmapped.push(`protocol parameter ${name}: "${k}" has no CloudBackend field`);
  if (!kv.host) st.notes.push(`CloudBackend ${name}: host unknown in the CLARUS policy; set spec.host (stub: ${name}.example.invalid)`);
  st.notes.push(`CloudBackend ${name}: create Secret ${name}-creds with username and password (the read-write role), Secret ${name}-readonly-creds with username and password (a SELECT-only role), and Secret ${name}-ca with the server's CA as ca.crt`);
  return {
    apiVersion: API_VERSION, kind: 'CloudBackend', metadata: { name, namespace: st.opts.namespace },
    spec: {
      host: kv.host ?? `${name}.example.invalid`,
      port: kv.port && /^\d+$/.test(kv.port) ? Number(kv.port) : 5432,
      database: kv.database ?? kv.dbname ?? DEFAULT_DATABASE,
      credentialsSecretRef: { name: `${name}-creds` },
      readOnlyCredentialsSecretRef: { name: `${name}-readonly-creds` },
      tls: { mode: 'verify-full', caSecretRef: { name: `${name}-ca` } },
    },
  };
}

function mergeRule(defaults: Map<AttributeType, RuleMapping>, type: AttributeType, m: RuleMapping, line: number, st: State): void {
  const prev = defaults.get(type);
  if (!prev) return void defaults.set(type, m);
  const merged: RuleMapping = { ...prev, ...m, protection: { ...prev.protection, ...m.protection }, rowKey: Boolean(prev.rowKey || m.rowKey) };
  if (merged.protection.encrypt && merged.protection.anonymize) {
    st.unmapped.push(`line ${line}: ${type} is both encrypted and anonymized by different modules; kept the encryption`);
    delete merged.protection.anonymize;
  }
  defaults.set(type, merged);
}

function readRules(root: XmlElement, st: State): Map<AttributeType, RuleMapping> {
  const defaults = new Map<AttributeType, RuleMapping>();
  for (const prot of root.children.filter((c) => c.name === 'protection')) {
    const module = prot.attrs.module ?? '';
    for (const group of prot.children) {
      for (const rule of group.name === 'attribute_types' ? group.children : [group]) {
        const type = TYPES[rule.attrs.type ?? ''];
        if (rule.name !== 'attribute_type' || !type) {
          st.unmapped.push(`line ${rule.line}: <${rule.name}${rule.attrs.type ? ` type="${rule.attrs.type}"` : ''}> in module ${module} is not a known attribute_type rule`);
          continue;
        }
        const m = mapRule(module, rule, type, st);
        if (m) mergeRule(defaults, type, m, rule.line, st);
      }
    }
  }
  return defaults;
}

function column(a: Attr, rule: RuleMapping | undefined, defaultProtection: AttributeTypeDefault | undefined): ColumnSpec {
  const c: ColumnSpec = { name: a.column, attributeType: a.type };
  if (rule?.splitTo) c.protection = { ...(defaultProtection ?? {}), split: { backend: rule.splitTo } };
  return c;
}

function datasets(attrs: Attr[], rules: Map<AttributeType, RuleMapping>, st: State): DatasetSpec[] {
  const byTable = new Map<string, Attr[]>();
  for (const a of attrs) byTable.set(a.table, [...(byTable.get(a.table) ?? []), a]);
  return [...byTable.entries()].map(([table, cols]) => {
    const name = table.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63) || 'dataset';
    const columns = cols.map((a) => column(a, rules.get(a.type), rules.get(a.type)?.protection));
    const keys = cols.filter((a) => a.type === 'technicalIdentifier');
    const split = columns.some((c) => c.protection?.split);
    const d: DatasetSpec = { name, table, ...(keys[0] && (split || rules.get('technicalIdentifier')?.rowKey) ? { rowKey: keys[0].column } : {}), columns };
    if (split && !keys[0]) st.unmapped.push(`table ${table}: split columns are joined on a row key, but no attribute of the table is a technical_identifier`);
    if (keys.length > 1) st.notes.push(`table ${table}: several technical identifiers; rowKey is ${keys[0]?.column}`);
    return d;
  });
}

/** `db/table/column` names the database; stubs without a cspN database parameter get it. */
function useDatabasePrefix(attrs: Attr[], backends: CloudBackend[], st: State): void {
  const dbs = [...new Set(attrs.map((a) => a.db).filter((d): d is string => Boolean(d)))];
  if (dbs.length > 1) st.notes.push(`attributes name several databases (${dbs.join(', ')}); one SecurityPolicy covers one database: set CloudBackend spec.database`);
  for (const b of backends.filter((x) => x.spec.database === DEFAULT_DATABASE)) {
    if (dbs.length === 1 && dbs[0]) b.spec.database = dbs[0];
    else st.notes.push(`CloudBackend ${b.metadata.name}: database unknown; set spec.database (stub: ${DEFAULT_DATABASE})`);
  }
}

/** CLARUS puts t-closeness on confidential attributes; here it is a parameter of the QIs' kAnonymity. */
function applyTCloseness(rules: Map<AttributeType, RuleMapping>, st: State): void {
  const t = [...rules.values()].find((r) => r.tCloseness !== undefined)?.tCloseness;
  if (t === undefined) return;
  const k = rules.get('quasiIdentifier')?.protection.anonymize?.kAnonymity;
  if (k) k.tCloseness = t;
  else st.unmapped.push(`t-closeness t=${t} needs k-anonymity on the quasi-identifiers, which the policy does not set`);
}

export function importClarus1(xml: string, opts: ImportOptions): ImportResult {
  const st: State = { opts, notes: [], unmapped: [] };
  const root = parseXml(xml);
  if (root.name !== 'schema') st.unmapped.push(`line ${root.line}: root element <${root.name}>, expected <schema>`);
  for (const el of root.children.filter((c) => !['data', 'protection', 'protocol'].includes(c.name))) st.unmapped.push(`line ${el.line}: <${el.name}> is not a CLARUS 1.0 policy element`);
  const attrs = readAttributes(root.children.find((c) => c.name === 'data'), st);
  const backends = backendsFrom(root.children.find((c) => c.name === 'protocol'), st);
  const rules = readRules(root, st);
  for (const r of rules.values()) {
    if (r.splitTo && !backends.some((b) => b.metadata.name === r.splitTo)) backends.push(backendStub(r.splitTo, {}, st));
  }
  applyTCloseness(rules, st);
  useDatabasePrefix(attrs, backends, st);
  const attributeTypes = Object.fromEntries([...rules.entries()].filter(([, r]) => Object.keys(r.protection).length > 0).map(([t, r]) => [t, r.protection]));
  const policy: SecurityPolicy = {
    apiVersion: API_VERSION, kind: 'SecurityPolicy', metadata: { name: opts.name, namespace: opts.namespace },
    spec: {
      backends: backends.map((b) => b.metadata.name),
      keyring: { secretName: opts.keyringSecret ?? `${opts.name}-keys` },
      onUnsupported: 'reject',
      ...(Object.keys(attributeTypes).length > 0 ? { attributeTypes } : {}),
      datasets: datasets(attrs, rules, st),
    },
  };
  if (attrs.length === 0) st.notes.push('no attributes in <data>: pass-through policy (nothing is protected)');
  return { policy, backends, notes: st.notes, unmapped: st.unmapped };
}
