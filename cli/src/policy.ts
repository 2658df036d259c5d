// `clarus policy validate|render|explain|import`: the offline tooling, with the cluster's rules.
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { explainPolicy, policyDatasets } from './explain/table.ts';
import { importClarus1, type ImportOptions, type ImportResult } from './import/clarus1.ts';
import { parseCatalog, parseTableSpec, type CatalogTable } from './import/names.ts';
import { importYaml } from './import/print.ts';
import { parseRecordTable } from './import/records.ts';
import { XmlError } from './import/xml.ts';
import { RenderError } from '@clarus/policy/runtime/render.ts';
import type { ResourceSet } from '@clarus/policy/inputs.ts';
import { proxiesOf, selectForProxy } from '@clarus/policy/runtime/select.ts';
import { renderToDir } from './io/write.ts';
import { IMPORT_PARTIAL_ANNOTATION, type SecurityPolicy } from '@clarus/crds/types.ts';
import { formatIssue, validateManifests } from '@clarus/policy/validate/index.ts';
import { loadManifests } from './io/load.ts';
import { explainSql } from './sql.ts';
import { many, one, parseArgs, processIo, type Io, type ParsedArgs } from './args.ts';

const USAGE = `usage:
  clarus policy validate -f FILE|DIR… [--namespace NS]
  clarus policy render   -f FILE|DIR… --out DIR [--proxy NAME] [--namespace NS]
  clarus policy explain  -f FILE|DIR… [--sql "STATEMENT"]
  clarus policy import   FILE.xml [--name NAME] [--namespace NS] [--table SCHEMA.TABLE[:COL,…]]… [--catalog FILE]
                         [--from-backend postgres://USER@HOST/DB] [--keyring SECRET] [--row-key TABLE=COLUMN]… [--partial]
                         [--dataset-table [SCHEMA.]TABLE]
`;
const VALUE_OPTS = ['-f', '--filename', '--namespace', '-n', '--out', '-o', '--proxy', '--sql', '--name', '--table', '--catalog', '--from-backend', '--keyring', '--dataset-table', '--row-key'];

function usageError(io: Io, message: string): number {
  io.err(`clarus policy: ${message}\n\n${USAGE}`);
  return 2;
}

/** `-f a -f b` and `-f a b` both name several files or folders. */
function files(args: ParsedArgs): string[] {
  return [...many(args, '-f', '--filename'), ...args.positional];
}

/** Loads and validates; prints every issue; returns the valid set, or undefined on errors. */
async function loadValid(args: ParsedArgs, io: Io): Promise<ResourceSet | undefined> {
  const loaded = await loadManifests(files(args));
  const result = validateManifests(loaded.docs, one(args, '--namespace', '-n') ?? 'default');
  const issues = [...loaded.issues, ...result.issues];
  for (const i of issues) io.err(`${formatIssue(i)}\n`);
  return issues.some((i) => i.severity === 'error') ? undefined : result.set;
}

async function validate(args: ParsedArgs, io: Io): Promise<number> {
  const set = await loadValid(args, io);
  if (!set) return 1;
  io.out(`valid: ${set.resources.length} Clarus resource(s), ${set.secrets.length} Secret(s)\n`);
  return 0;
}

async function renderCmd(args: ParsedArgs, io: Io): Promise<number> {
  const out = one(args, '--out', '-o');
  if (!out) return usageError(io, '--out DIR is required');
  const set = await loadValid(args, io);
  if (!set) return 1;
  const wanted = one(args, '--proxy');
  const proxies = proxiesOf(set).filter((p) => !wanted || p.metadata.name === wanted);
  if (proxies.length !== 1) return usageError(io, proxies.length === 0 ? `no ClarusProxy${wanted ? ` named ${wanted}` : ''} in the input` : `${proxies.length} ClarusProxies in the input; choose one with --proxy NAME`);
  const input = selectForProxy(set, proxies[0] as (typeof proxies)[number]);
  if ('resource' in input) {
    io.err(`${formatIssue(input)}\n`);
    return 1;
  }
  try {
    const result = await renderToDir(input, out);
    io.out(`rendered ${input.proxy.metadata.name} into ${out}: ${result.files.length} secret file(s), ${result.config.hash}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof RenderError)) throw e;
    for (const i of e.issues) io.err(`${formatIssue(i)}\n`);
    return 1;
  }
}

async function explain(args: ParsedArgs, io: Io): Promise<number> {
  const set = await loadValid(args, io);
  if (!set) return 1;
  const policies = set.resources.filter((r): r is SecurityPolicy => r.kind === 'SecurityPolicy');
  if (policies.length === 0) return usageError(io, 'no SecurityPolicy in the input');
  return explainPolicies(policies, one(args, '--sql'), io);
}

/** The protections of each policy and, with `sql`, what the proxy does with that statement under it. */
export async function explainPolicies(policies: SecurityPolicy[], sql: string | undefined, io: Io): Promise<number> {
  for (const p of policies) {
    io.out(explainPolicy(p));
    if (sql !== undefined) {
      const { datasets, defaultBackend } = policyDatasets(p);
      const runtime = { name: p.metadata.name, onUnsupported: p.spec.onUnsupported ?? 'reject', defaultBackend, keyring: { dir: 'secrets/keyring', keys: [] }, datasets };
      const text = await explainSql(sql, runtime);
      io.out(`\n--sql ${JSON.stringify(sql)}\n${text}`);
      if (text.startsWith('ERROR')) return 1;
    }
  }
  return 0;
}

function importTables(args: ParsedArgs, catalogText: string | undefined): CatalogTable[] | string | undefined {
  const specs = many(args, '--table');
  if (specs.length === 0 && catalogText === undefined) return undefined;
  const out: CatalogTable[] = [];
  for (const spec of specs) {
    const t = parseTableSpec(spec);
    if (!t) return `--table ${spec}: expected SCHEMA.TABLE or SCHEMA.TABLE:COL,COL…`;
    out.push(t);
  }
  if (catalogText === undefined) return out;
  const listed = parseCatalog(catalogText);
  return typeof listed === 'string' ? `--catalog: ${listed}` : [...out, ...listed];
}

function recordTableOption(args: ParsedArgs): ImportOptions['datasetTable'] | string {
  const spec = one(args, '--dataset-table');
  if (spec === undefined) return undefined;
  return parseRecordTable(spec) ?? `--dataset-table ${spec}: expected TABLE or SCHEMA.TABLE (plain SQL identifiers)`;
}

/** The default policy name: the file's base name as a Kubernetes name. */
function nameOf(file: string): string {
  return basename(file).replace(/\.xml$/i, '').toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63).replace(/-+$/, '') || 'imported';
}

/** The tables patterns are expanded against: --table, --catalog, --from-backend. */
async function tablesOption(args: ParsedArgs): Promise<ImportOptions['tables'] | string> {
  const catalog = one(args, '--catalog');
  const listed = importTables(args, catalog === undefined ? undefined : await readFile(catalog, 'utf8'));
  if (typeof listed === 'string') return listed;
  const fromBackend = one(args, '--from-backend');
  return fromBackend === undefined ? listed : [...(listed ?? []), ...(await (await import('./io/catalog.ts')).backendTables(fromBackend))];
}

function rowKeysOption(args: ParsedArgs): ImportOptions['rowKeys'] | string {
  const rowKeys = many(args, '--row-key').map((k) => /^([^=]+)=([A-Za-z_][A-Za-z0-9_$]*)$/.exec(k));
  if (rowKeys.some((m) => !m)) return '--row-key: expected TABLE=COLUMN';
  return rowKeys.length > 0 ? rowKeys.map((m) => ({ table: (m as RegExpExecArray)[1] as string, column: (m as RegExpExecArray)[2] as string })) : undefined;
}

async function importOptions(args: ParsedArgs, file: string): Promise<ImportOptions | string> {
  const tables = await tablesOption(args);
  const datasetTable = recordTableOption(args);
  const rowKeys = rowKeysOption(args);
  for (const v of [tables, datasetTable, rowKeys]) if (typeof v === 'string') return v;
  const keyringSecret = one(args, '--keyring');
  return {
    name: one(args, '--name') ?? nameOf(file), namespace: one(args, '--namespace', '-n') ?? 'default',
    ...(tables ? { tables: tables as NonNullable<ImportOptions['tables']> } : {}), ...(keyringSecret ? { keyringSecret } : {}),
    ...(datasetTable ? { datasetTable: datasetTable as NonNullable<ImportOptions['datasetTable']> } : {}), partial: args.flags.has('--partial'),
    ...(rowKeys ? { rowKeys: rowKeys as NonNullable<ImportOptions['rowKeys']> } : {}),
  };
}

/** The YAML goes out only when it protects as much as the XML, or with --partial, loudly. */
function printImport(r: ImportResult, file: string, partial: boolean, io: Io): number {
  for (const n of r.notes) io.err(`note: ${n}\n`);
  for (const u of r.refusals) io.err(`refused: ${u}\n`);
  if (r.refusals.length === 0) {
    io.out(importYaml(r, basename(file)));
    return 0;
  }
  if (!partial) {
    io.err(`clarus policy import: ${file}: no policy printed: it would protect less than the CLARUS policy, or mean something else (${r.refusals.length} refusal(s) above); --partial prints it marked ${IMPORT_PARTIAL_ANNOTATION}, which every validator refuses until the annotation is removed\n`);
    return 1;
  }
  io.err(`WARNING: --partial: the policy printed PROTECTS LESS than ${file}; it carries the annotation ${IMPORT_PARTIAL_ANNOTATION}, and validate, render and the operator refuse it until you fix what is listed and remove the annotation\n`);
  io.out(importYaml(r, basename(file)));
  return 1;
}

async function importCmd(args: ParsedArgs, io: Io): Promise<number> {
  const file = args.positional[0];
  if (!file) return usageError(io, 'FILE.xml is required');
  const opts = await importOptions(args, file);
  if (typeof opts === 'string') return usageError(io, opts);
  try {
    return printImport(importClarus1(await readFile(file, 'utf8'), opts), file, opts.partial === true, io);
  } catch (e) {
    if (!(e instanceof XmlError)) throw e;
    io.err(`${file}: ${e.message}\n`);
    return 1;
  }
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return 0;
  }
  const args = parseArgs(rest, VALUE_OPTS);
  if (typeof args === 'string') return usageError(io, args);
  const command = SUBCOMMANDS.get(sub);
  if (!command) return usageError(io, `unknown subcommand ${sub}`);
  if (command.needsFiles && files(args).length === 0) return usageError(io, '-f FILE|DIR is required');
  return command.run(args, io);
}

const SUBCOMMANDS = new Map<string, { run: (args: ParsedArgs, io: Io) => Promise<number> | number; needsFiles: boolean }>([
  ['validate', { run: validate, needsFiles: true }],
  ['render', { run: renderCmd, needsFiles: true }],
  ['explain', { run: explain, needsFiles: true }],
  ['import', { run: importCmd, needsFiles: false }],
]);
