// An encrypted workload for benchmarks (bench/ owns the harness): a table with N encrypted
// columns next to an identical plain one, the runtime policy and keyring that protect it, and the
// statements of the scenarios (select by key, insert, COPY). Put `policy` into the runtime
// configuration (config.policy) and the key file under DIR/<policy.keyring.dir>/, then run
// `clarus proxy --config DIR`: the proxy protects the encrypted table, the plain one passes.
import { randomBytes } from 'node:crypto';
import type { RuntimePolicy } from '@clarus/policy/runtime/config.ts';

export interface EncryptedWorkload {
  policy: RuntimePolicy;
  /** File name → content for the keyring directory. */
  keyFiles: Map<string, string>;
  createSql(table: string): string;
  insertSql(table: string): string;
  selectByKeySql(table: string): string;
  copyInSql(table: string): string;
  /** Parameters of row i for insertSql, and the same row as one COPY text line. */
  row(i: number): unknown[];
  copyLine(i: number): string;
}

/** `encrypted` columns c1..cN: c1 deterministic, c2 randomized searchable, the rest randomized. */
export function encryptedWorkload(encrypted: number, table = 'bench_enc', backend = 'primary'): EncryptedWorkload {
  const cols = Array.from({ length: encrypted }, (_, i) => `c${i + 1}`);
  const policy: RuntimePolicy = {
    name: 'bench', onUnsupported: 'reject', defaultBackend: backend,
    keyring: { dir: 'secrets/keyring', keys: [{ name: 'default', versions: [1], current: 1 }] },
    datasets: [{
      name: table, schema: 'public', table, rowKey: 'id',
      columns: [
        { name: 'id', attributeType: 'technicalIdentifier', backend },
        ...cols.map((name, i) => ({
          name, attributeType: 'confidential' as const, backend,
          encrypt: { mode: i === 0 ? 'deterministic' as const : 'randomized' as const, searchable: i === 1, keyName: 'default' },
        })),
      ],
    }],
  };
  const all = ['id', ...cols];
  return {
    policy,
    keyFiles: new Map([['default.v1', randomBytes(32).toString('base64')]]),
    createSql: (t) => `CREATE TABLE ${t} (id bigint PRIMARY KEY, ${cols.map((c) => `${c} text`).join(', ')})`,
    insertSql: (t) => `INSERT INTO ${t} (${all.join(', ')}) VALUES (${all.map((_, i) => `$${i + 1}`).join(', ')})`,
    selectByKeySql: (t) => `SELECT ${all.join(', ')} FROM ${t} WHERE id = $1`,
    copyInSql: (t) => `COPY ${t} (${all.join(', ')}) FROM STDIN`,
    row: (i) => [i, ...cols.map((c) => `${c}-value-${i}`)],
    copyLine: (i) => `${[i, ...cols.map((c) => `${c}-value-${i}`)].join('\t')}\n`,
  };
}
