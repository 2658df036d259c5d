// The environment of the two-stage tests: a protected backend behind a proxy with the in-proxy
// stage, and an oracle PostgreSQL server with the same rows in plain tables, reached directly.
// The rows carry canaries (parts of protected values) that must never reach the backend.
import { appendFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { CREATE_PATIENT, CREATE_VISIT, USERS, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

const NAMES = ['Zoë Quintanilla-canary', 'adam smith-canary', 'Émile Brontë-canary', 'bob', 'Ünal Kaya-canary', 'ann lee-canary', 'ANN LEE-canary', 'Ömer-canary'];
const DIAG = ['flu', 'asthma', 'flu', 'diabetes', null, 'asthma', 'flu', 'covid'];
export const CANARIES = ['Quintanilla-canary', 'smith-canary', 'Brontë-canary', 'Kaya-canary', 'lee-canary', 'LEE-canary', 'Ömer-canary', '123-45-'];
export const ROWS = 40;

function patientRow(i: number): unknown[] {
  const name = `${NAMES[i % NAMES.length]}${i >= NAMES.length ? ` ${i}` : ''}`;
  const ssn = `123-45-${String(1000 + i).padStart(4, '0')}`;
  return [i, name, i % 5 === 0 ? null : ssn, `0${8000 + i}`, `19${50 + (i % 40)}-0${1 + (i % 9)}-1${i % 9}`, DIAG[i % DIAG.length]];
}

export interface TwoStageEnv {
  cluster: PgCluster;
  env: ProtectedEnv;
  /** The doctor (plaintext view, read-write) through the proxy. */
  c: pg.Client;
  oracle: pg.Client;
  /** Lines of the backend's server log (log_statement = all, parameters included). */
  serverLog(): string[];
  close(): Promise<void>;
}

export async function startTwoStage(maxRows: number): Promise<TwoStageEnv> {
  const [cluster, oracleCluster] = await Promise.all([startPostgres(), startPostgres()]);
  appendFileSync(join(cluster.dir, 'data', 'postgresql.conf'), "\nlog_statement = 'all'\nlog_min_error_statement = 'info'\nlog_parameter_max_length = -1\n");
  const oracle = new pg.Client({ connectionString: oracleCluster.url(), ssl: { ca: oracleCluster.caPem } });
  await oracle.connect();
  // The bound comes from the configuration (ClarusProxy spec.limits.computeMaxRows), over the process default.
  const env = await startProtected(cluster, undefined, undefined, { residual: {}, limits: { computeMaxRows: maxRows } });
  await env.backend.query('SELECT pg_reload_conf()');
  const c = new pg.Client({ connectionString: env.url(USERS.doctor) });
  await c.connect();
  for (const db of [c, oracle]) {
    await db.query(CREATE_PATIENT);
    for (let i = 0; i < ROWS; i++) await db.query('INSERT INTO patient (pat_id, pat_name, pat_ssn, pat_zip, pat_birth, diagnosis) VALUES ($1, $2, $3, $4, $5, $6)', patientRow(i));
    await db.query(CREATE_VISIT);
    for (let i = 0; i < ROWS * 2; i++) await db.query('INSERT INTO visit (visit_id, pat_id, reason, notes) VALUES ($1, $2, $3, $4)', [i, i % ROWS, ['check', 'fever', 'cough'][i % 3], `note ${i} lee-canary`]);
  }
  return {
    cluster, env, c, oracle,
    serverLog: () => readFileSync(join(cluster.dir, 'server.log'), 'utf8').split('\n'),
    close: async () => {
      await c.end().catch(() => undefined);
      await oracle.end().catch(() => undefined);
      await env.close();
      await cluster.destroy();
      await oracleCluster.destroy();
    },
  };
}
