// The eHealth episodes of the CLARUS test data (data_clarus2.txt) as the anonymization tests load
// them: one table layout, its columns under k-anonymity (and t-closeness when asked), the policy
// that protects a list of such tables, and the file's records.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import type { Row } from '@clarus/testing/anonymity.ts';
import type { RuntimeColumn, RuntimePolicy } from '@clarus/policy/runtime/config.ts';
import { clarusFile } from '@clarus/testing/clarus-data.ts';

export const EPISODE_BACKEND = 'cloud-a';

/** A column placed on the episodes' backend, anonymized when `anonymize` is given. */
export const anonColumn = (name: string, attributeType: RuntimeColumn['attributeType'], anonymize?: RuntimeColumn['anonymize']): RuntimeColumn =>
  ({ name, attributeType, backend: EPISODE_BACKEND, ...(anonymize ? { anonymize } : {}) });

/** The episode columns; quasi-identifiers under kAnonymity (k, and t on dia_id when given). */
export function episodeColumns(k = 5, t?: number): RuntimeColumn[] {
  const qi = { kAnonymity: { k, ...(t !== undefined ? { tCloseness: t } : {}) } };
  return [
    anonColumn('ep_id', 'nonConfidential'), anonColumn('ep_age', 'quasiIdentifier', qi), anonColumn('ep_range', 'quasiIdentifier', qi),
    anonColumn('dis_id', 'nonConfidential'), anonColumn('dis_adm', 'quasiIdentifier', qi), anonColumn('dis_dis', 'quasiIdentifier', qi),
    anonColumn('dis_days', 'quasiIdentifier', qi), anonColumn('ep_pat', 'identifier', { suppress: {} }),
    anonColumn('pat_gen', 'quasiIdentifier', qi), anonColumn('pat_zip', 'quasiIdentifier', qi), anonColumn('dia_id', 'confidential'),
  ];
}

/** A policy protecting each table (dataset `episode-x` for `episode_x`) with `columnsOf(table)`. */
export function episodePolicy(name: string, tables: string[], columnsOf: (table: string) => RuntimeColumn[] = () => episodeColumns()): RuntimePolicy {
  return {
    name, onUnsupported: 'reject', defaultBackend: EPISODE_BACKEND,
    keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
    datasets: tables.map((table) => ({ name: table.replace('_', '-'), schema: 'public', table, columns: columnsOf(table) })),
  };
}

export const EPISODE_TABLE_COLUMNS = `(ep_id text, ep_age integer, ep_range integer, dis_id text, dis_adm date, dis_dis date,
  dis_days integer, ep_pat text, pat_gen text, pat_zip text, dia_id text)`;
export const EPISODE_COLUMNS = 'ep_id, ep_age, ep_range, dis_id, dis_adm, dis_dis, dis_days, ep_pat, pat_gen, pat_zip, dia_id';
/** Positions of the quasi-identifiers and of the confidential attribute in EPISODE_COLUMNS. */
export const EPISODE_QI = [1, 2, 4, 5, 6, 8, 9];
export const EPISODE_DIA = 10;

/** The data file's non-empty lines: its header, then one record per line. */
export function episodeLines(): string[] {
  return readFileSync(clarusFile('data_clarus2.txt'), 'utf8').split('\n').filter((l) => l.length > 0);
}

/** What the backend stores in an episode table, every column as text, in storage order. */
export async function storedEpisodes(backend: pg.Client, table: string): Promise<Row[]> {
  const columns = EPISODE_COLUMNS.split(', ').map((c) => `${c}::text`).join(', ');
  return (await backend.query({ text: `SELECT ${columns} FROM ${table}`, rowMode: 'array' })).rows as Row[];
}
