// An ORM through the protection proxy: Knex migrations (schema builder, migration lock/bookkeeping
// tables, transactions) and CRUD with Knex's parameterized SQL, against a real PostgreSQL; the
// backend holds only ciphertext for encrypted columns.
import knexFactory from 'knex';
import type { Knex } from 'knex';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USERS, canariesInDump, canariesInTable, startProtected } from '../corpus/setup.ts';
import type { ProtectedEnv } from '../corpus/setup.ts';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';

let cluster: PgCluster;
let env: ProtectedEnv;
let db: Knex;

const migrations: Knex.MigrationSource<string> = {
  getMigrations: async () => ['001_patient', '002_visit'],
  getMigrationName: (m) => m,
  getMigration: async (m) => (m === '001_patient'
    ? {
        up: (k: Knex) => k.schema.createTable('patient', (t) => {
          t.integer('pat_id').primary();
          t.text('pat_name').notNullable();
          t.string('pat_ssn', 11).index();
          t.text('pat_zip');
          t.date('pat_birth');
          t.text('diagnosis').index();
        }),
        down: (k: Knex) => k.schema.dropTable('patient'),
      }
    : {
        up: (k: Knex) => k.schema.createTable('visit', (t) => {
          t.integer('visit_id').primary();
          t.integer('pat_id').references('pat_id').inTable('patient');
          t.text('reason');
          t.text('notes');
        }),
        down: (k: Knex) => k.schema.dropTable('visit'),
      }),
};

beforeAll(async () => {
  cluster = await startPostgres();
  env = await startProtected(cluster);
  db = knexFactory({ client: 'pg', connection: env.url(USERS.doctor), pool: { min: 0, max: 2 } });
});
afterAll(async () => {
  await db?.destroy();
  await env?.close();
  await cluster?.destroy();
});

describe('Knex through the protection proxy', () => {
  it('runs migrations: protected columns become bytea, the searchable index goes to the blind index', async () => {
    const [, log] = await db.migrate.latest({ migrationSource: migrations });
    expect(log).toEqual(['001_patient', '002_visit']);
    const cols = await env.backend.query("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'patient' ORDER BY ordinal_position");
    expect(cols.rows.map((r) => `${r.column_name}:${r.data_type}`)).toContain('pat_ssn__bidx:bytea');
    expect(cols.rows.map((r) => `${r.column_name}:${r.data_type}`)).toContain('pat_name:bytea');
    const idx = await env.backend.query("SELECT indexdef FROM pg_indexes WHERE tablename = 'patient' AND indexname LIKE '%ssn%'");
    expect(idx.rows[0]?.indexdef).toContain('pat_ssn__bidx');
  });

  it('does CRUD with plaintext seen by the app', async () => {
    await db('patient').insert([
      { pat_id: 1, pat_name: 'Knex Canaryone', pat_ssn: '321-54-9876', pat_zip: '08001', pat_birth: '1981-02-03', diagnosis: 'knex-flu' },
      { pat_id: 2, pat_name: 'Knex Canarytwo', pat_ssn: '321-54-0000', pat_zip: '08002', pat_birth: '1982-02-03', diagnosis: 'knex-cold' },
    ]);
    await db('visit').insert({ visit_id: 1, pat_id: 1, reason: 'knex-flu', notes: 'knex-secret-note' });
    const one = await db('patient').where({ pat_ssn: '321-54-9876' }).first();
    expect(one).toMatchObject({ pat_id: 1, pat_name: 'Knex Canaryone', pat_zip: '080**', diagnosis: 'knex-flu' });
    expect((await db('patient').whereIn('diagnosis', ['knex-cold', 'x']).select('pat_name')).map((r) => r.pat_name)).toEqual(['Knex Canarytwo']);
    const joined = await db('patient as p').join('visit as v', 'v.reason', 'p.diagnosis').select('p.pat_name', 'v.notes');
    expect(joined).toEqual([{ pat_name: 'Knex Canaryone', notes: 'knex-secret-note' }]);
    expect(await db('patient').where({ pat_id: 2 }).update({ diagnosis: 'knex-flu' })).toBe(1);
    const counts = await db('patient').select('diagnosis').count('* as n').groupBy('diagnosis');
    expect(counts).toEqual([{ diagnosis: 'knex-flu', n: '2' }]);
    await db.transaction(async (trx) => {
      await trx('patient').where({ pat_ssn: '321-54-0000' }).update({ pat_name: 'Knex Renamed' });
    });
    expect((await db('patient').where({ pat_id: 2 }).first()).pat_name).toBe('Knex Renamed');
    await expect(db('patient').orderBy('pat_name')).rejects.toMatchObject({ code: '0A000' });
    expect(await db('visit').where({ notes: null }).del()).toBe(0);
    expect(await db('visit').where({ reason: 'knex-flu' }).del()).toBe(1);
  });

  it('leaves no canary plaintext in the backend', async () => {
    const canaries = ['Knex Canaryone', 'Knex Canarytwo', 'Knex Renamed', '321-54-9876', 'knex-flu', 'knex-cold', 'knex-secret-note'];
    expect(await canariesInTable(env.backend, 'patient', canaries)).toEqual([]);
    expect(await canariesInDump(cluster, canaries)).toEqual([]);
  });

  it('rolls the migrations back', async () => {
    await db.migrate.rollback({ migrationSource: migrations }, true);
    const t = await env.backend.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('patient', 'visit')");
    expect(t.rows[0].n).toBe(0);
  });
});
