// The encrypted-column benchmark (issue 4), pure part: the tables every target gets, the two
// policies (2 and 5 encrypted columns), the rows a COPY streams, and the check that what the
// backend stores holds no plaintext of an encrypted column. No I/O here.
import type { RuntimeColumn, RuntimeDataset } from '@clarus/policy/runtime/config.ts';
import type { EncryptMode } from '@clarus/crds/types.ts';

/** The data columns of every benchmark table, in table order, after the plain `id`. */
export const DATA_COLUMNS = ['name', 'email', 'ssn', 'city', 'diagnosis', 'notes'] as const;
export type DataColumn = typeof DATA_COLUMNS[number];

/** Select by key reads this table; it is loaded once per backend database with SELECT_ROWS rows. */
export const SELECT_TABLE = 'bench_patient';
/** The insert workload appends here (no primary key: random ids may repeat). */
export const INSERT_TABLE = 'bench_patient_insert';
/** COPY FROM STDIN fills this table each run (truncated first); COPY TO STDOUT reads it back. */
export const COPY_TABLE = 'bench_patient_copy';
export const TABLES = [SELECT_TABLE, INSERT_TABLE, COPY_TABLE] as const;
export const SELECT_ROWS = 100_000;

export function createTableSql(table: string): string {
  const key = table === SELECT_TABLE ? 'bigint PRIMARY KEY' : 'bigint NOT NULL';
  return `CREATE TABLE IF NOT EXISTS ${table} (id ${key}, ${DATA_COLUMNS.map((c) => `${c} text`).join(', ')})`;
}

interface Protection { mode: EncryptMode; searchable: boolean }

/** 2 columns: a randomized name and a deterministic (equality-searchable) SSN. */
const TWO: Partial<Record<DataColumn, Protection>> = {
  name: { mode: 'randomized', searchable: false },
  ssn: { mode: 'deterministic', searchable: false },
};
/** 5 columns: every mode, including a randomized column with a blind index; `city` stays plain. */
const FIVE: Partial<Record<DataColumn, Protection>> = {
  ...TWO,
  email: { mode: 'randomized', searchable: true },
  diagnosis: { mode: 'deterministic', searchable: false },
  notes: { mode: 'randomized', searchable: false },
};

export interface EncryptedVariant {
  /** Target name (`clarus-enc2`, `clarus-enc5`). */
  target: string;
  /** The backend database this proxy stores into (each layout needs its own tables). */
  database: string;
  columns: Partial<Record<DataColumn, Protection>>;
}

/** 3 columns for the COPY goal of issue 15: a randomized name and notes, a deterministic SSN. */
const THREE: Partial<Record<DataColumn, Protection>> = {
  ...TWO,
  notes: { mode: 'randomized', searchable: false },
};

/** The proxy of the 3-column COPY scenarios (enc-copy3-*), which alone run on it. */
export const COPY3_VARIANT: EncryptedVariant = { target: 'clarus-enc3', database: 'bench_enc3', columns: THREE };

export const VARIANTS: EncryptedVariant[] = [
  { target: 'clarus-enc2', database: 'bench_enc2', columns: TWO },
  { target: 'clarus-enc5', database: 'bench_enc5', columns: FIVE },
];

export const KEY_NAME = 'default';

export function encryptedColumns(v: EncryptedVariant): DataColumn[] {
  return DATA_COLUMNS.filter((c) => v.columns[c] !== undefined);
}

/** One dataset per benchmark table, each with the variant's protections. */
export function datasets(v: EncryptedVariant, backend: string): RuntimeDataset[] {
  return TABLES.map((table) => ({
    name: table.replaceAll('_', '-'), schema: 'public', table, rowKey: 'id',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend },
      ...DATA_COLUMNS.map((name): RuntimeColumn => {
        const p = v.columns[name];
        return p
          ? { name, attributeType: 'identifier', encrypt: { ...p, keyName: KEY_NAME }, backend }
          : { name, attributeType: 'nonConfidential', backend };
      }),
    ],
  }));
}

/** The values of generated row `id` (COPY data and the select table), distinct per row and column. */
export function rowValues(id: number): Record<DataColumn, string> {
  const n = String(id).padStart(7, '0');
  return {
    name: `Patient Name ${n}`, email: `patient.${n}@example.org`, ssn: `SSN-${n}-X`,
    city: `City ${id % 97}`, diagnosis: `diagnosis-${id % 13}`, notes: `Follow-up note for patient ${n}, no change`,
  };
}

/** Rows `from`..`to` (inclusive) in COPY text format (tab-separated, one line each). */
export function copyText(from: number, to: number): string {
  const lines: string[] = [];
  for (let id = from; id <= to; id++) {
    const v = rowValues(id);
    lines.push(`${id}\t${DATA_COLUMNS.map((c) => v[c]).join('\t')}\n`);
  }
  return lines.join('');
}

/**
 * The encrypted columns whose plaintext shows up in the stored row text (`t::text` of the backend
 * row, hidden helper columns included): literally, or inside a bytea shown as hex (`\x…`), which
 * is how a column that was merely retyped to bytea without encryption would look.
 */
export function plaintextLeaks(storedRowText: string, plaintext: Partial<Record<string, string | null>>, columns: readonly string[]): string[] {
  const hexRuns = [...storedRowText.matchAll(/\\x([0-9a-fA-F]+)/g)]
    .map((m) => { const h = m[1] as string; return Buffer.from(h.length % 2 ? h.slice(0, -1) : h, 'hex').toString('latin1'); })
    .join('\n');
  return columns.filter((c) => {
    const v = plaintext[c];
    return typeof v === 'string' && v.length > 0 && (storedRowText.includes(v) || hexRuns.includes(Buffer.from(v).toString('latin1')));
  });
}

/** The encrypted columns the backend does not store as bytea (the rewriter did not apply the policy). */
export function notBytea(storedTypes: Record<string, string>, columns: readonly string[]): string[] {
  return columns.filter((c) => storedTypes[c] !== 'bytea');
}
