// `clarus anonymize`: the proxy's k-anonymity / t-closeness microaggregation over a CSV file, offline,
// to choose k and t before loading. The policy's dataset says which columns are k-anonymous
// quasi-identifiers (and k, t) and which are confidential; CSV header names are matched to the
// dataset's column names by their last `/`-separated part (CLARUS headers are `db/table/column`).
// Column kinds are inferred from the values (integers, numbers, dates, else categories), where
// the proxy uses the declared SQL types. Prints the batch report; --out writes the anonymized CSV.
import { readFile, writeFile } from 'node:fs/promises';
import type { SecurityPolicySpec } from '@clarus/crds/types.ts';
import { declaredProtection } from '@clarus/policy/rules/securitypolicy.ts';
import { batchFailure, reportLine } from '@clarus/sidecar/protection/anonymization/batch.ts';
import { microaggregate } from '@clarus/sidecar/protection/anonymization/microaggregate.ts';
import type { BatchColumn } from '@clarus/sidecar/protection/anonymization/microaggregate.ts';
import { numberOf } from '@clarus/sidecar/protection/anonymization/values.ts';
import type { ValueKind } from '@clarus/sidecar/protection/anonymization/values.ts';
import { encodeCsvField } from '@clarus/sidecar/protection/copy-csv.ts';
import { CopyLineReader, csvFields } from '@clarus/sidecar/protection/copy-lines.ts';
import { many, one, parseArgs, processIo } from './args.ts';
import type { Io, ParsedArgs } from './args.ts';
import { loadManifests } from './io/load.ts';

const USAGE = `usage: clarus anonymize -f POLICY --dataset NAME [--delimiter ,] [--out FILE] DATA.csv

Microaggregates DATA.csv (with a header line) as the proxy would store one COPY of it into the
dataset's table, and prints the report: records, classes, achieved k and t, SSE/SST.
`;

function kindOf(values: Array<string | null>): ValueKind {
  const present = values.filter((v): v is string => v !== null);
  for (const kind of ['integer', 'date', 'real'] as const) if (present.every((v) => numberOf(kind, v) !== undefined)) return kind;
  return 'category';
}

function readCsv(data: Buffer, delimiter: string): Array<Array<string | null>> {
  const reader = new CopyLineReader({ csv: true, quote: '"' });
  const rows: Array<Array<string | null>> = [];
  const onLine = (line: Buffer): void => { rows.push(csvFields(line, delimiter.charCodeAt(0), 0x22)); };
  reader.push(data, onLine);
  reader.end(onLine);
  return rows;
}

async function policyDataset(files: string[], name: string): Promise<{ spec: SecurityPolicySpec; index: number } | string> {
  const { docs, issues } = await loadManifests(files);
  if (issues.length) return issues.map((i) => `${i.source ?? ''}: ${i.message}`).join('\n');
  for (const d of docs) {
    const doc = d.doc as { kind?: string; spec?: SecurityPolicySpec };
    if (doc.kind !== 'SecurityPolicy' || !doc.spec) continue;
    const index = doc.spec.datasets.findIndex((ds) => ds.name === name);
    if (index >= 0) return { spec: doc.spec, index };
  }
  return `no SecurityPolicy dataset named ${name}`;
}

function batchColumns(spec: SecurityPolicySpec, index: number, names: string[], rows: Array<Array<string | null>>): BatchColumn[] {
  const ds = spec.datasets[index];
  return names.map((name, i) => {
    const c = ds?.columns.find((x) => x.name === name);
    const p = c ? declaredProtection(spec, c) : undefined;
    const role = p?.anonymize?.kAnonymity ? 'qi' : c?.attributeType === 'confidential' ? 'confidential' : 'other';
    return { name, role, kind: kindOf(rows.map((r) => r[i] ?? null)) };
  });
}

async function writeCsv(path: string, delimiter: string, rows: Array<Array<string | null>>): Promise<void> {
  const csv = { delimiter, quote: '"', header: false };
  await writeFile(path, rows.map((row) => row.map((v) => encodeCsvField(v, csv)).join(delimiter)).join('\n') + '\n');
}

function failed(io: Io, message: string): number {
  io.err(`${message}\n`);
  return 1;
}

/** A header's column names: CLARUS headers may name `table/column`. */
function columnNames(header: Array<string | null> | undefined): string[] {
  return (header ?? []).map((h) => (h ?? '').split('/').pop() ?? '');
}

interface Job { files: string[]; dataset: string; input: string; args: ParsedArgs }

async function anonymize(job: Job, io: Io): Promise<number> {
  const { dataset, args } = job;
  const found = await policyDataset(job.files, dataset);
  if (typeof found === 'string') return failed(io, found);
  const ds = found.spec.datasets[found.index];
  const table = ds?.table ?? dataset;
  const delimiter = one(args, '--delimiter') ?? ',';
  const [header, ...rows] = readCsv(await readFile(job.input), delimiter);
  const names = columnNames(header);
  const ka = ds?.columns.map((c) => declaredProtection(found.spec, c)?.anonymize?.kAnonymity).find(Boolean);
  if (!ka) return failed(io, `dataset ${dataset} has no kAnonymity column`);
  const r = microaggregate({ k: ka.k, t: ka.tCloseness, columns: batchColumns(found.spec, found.index, names, rows) }, rows);
  if (!r.ok) return failed(io, batchFailure(table, r.failure).message);
  io.out(`${reportLine(table, r.report)}\n${JSON.stringify(r.report)}\n`);
  const out = one(args, '--out');
  if (out) await writeCsv(out, delimiter, [header ?? [], ...r.rows]);
  return 0;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const args = parseArgs(argv, ['-f', '--file', '--dataset', '--delimiter', '--out']);
  if (typeof args === 'string' || args.flags.has('--help') || args.flags.has('-h')) {
    io.err(typeof args === 'string' ? `${args}\n${USAGE}` : USAGE);
    return typeof args === 'string' ? 2 : 0;
  }
  const dataset = one(args, '--dataset');
  const input = args.positional[0];
  const files = many(args, '-f', '--file');
  if (!dataset || !input || files.length === 0) {
    io.err(USAGE);
    return 2;
  }
  return anonymize({ files, dataset, input, args }, io);
}
