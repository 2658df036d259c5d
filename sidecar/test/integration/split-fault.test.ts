// Atomicity of writes over split tables under crashes (issue 12). Each trial runs a write over
// two backends through the proxy — a transaction block (INSERT, UPDATE of another row, COMMIT) or
// a single autocommit INSERT — and SIGKILLs, at a random moment of it, the home backend, the other
// backend or the proxy process (including between PREPARE TRANSACTION and COMMIT PREPARED), then
// restarts what it killed and lets recovery run. After every trial: every row is on all its
// fragments or on none, a COMMIT the client saw succeed is on all of them, and no prepared
// transaction is left behind. SPLIT_FAULT_TRIALS sets the number of trials (default 200).
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { until } from '@clarus/testing/wait.ts';
import { USERS } from '../corpus/setup.ts';
import { CREATE_SPLIT_PATIENT, killHard, startSplit } from './split-env.ts';
import type { BackendName, SplitEnv } from './split-env.ts';

const TRIALS = Number(process.env.SPLIT_FAULT_TRIALS ?? 200);
let env: SplitEnv;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function keysOn(name: BackendName): Promise<Set<number>> {
  const r = await env.backend(name).query<{ pat_id: number }>('SELECT pat_id FROM patient');
  return new Set(r.rows.map((x) => x.pat_id));
}

async function preparedOn(name: BackendName): Promise<number> {
  return (await env.backend(name).query<{ n: number }>("SELECT count(*)::int AS n FROM pg_prepared_xacts WHERE gid LIKE 'clarus:%'")).rows[0]?.n ?? 0;
}

/**
 * One write over both backends, prepared up to its last statement: `finish()` sends that
 * statement (the block's COMMIT, or the autocommit INSERT) and resolves with whether the client
 * saw it commit. Kills are timed from that moment: they land in the commit.
 */
async function prepareWrite(id: number, block: boolean): Promise<{ finish(): Promise<boolean> } | null> {
  const c = new pg.Client({ connectionString: env.url(USERS.doctor), connectionTimeoutMillis: 5000 });
  c.on('error', () => undefined);
  const end = () => c.end().catch(() => undefined);
  const insert = () => c.query('INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES ($1, $2, $3, $4)', [id, `name ${id}`, `diag ${id}`, `ward ${id}`]);
  try {
    await c.connect();
    if (block) {
      await c.query('BEGIN');
      await insert();
      await c.query("UPDATE patient SET ward = 'touched' WHERE pat_id = 1");
    }
  } catch {
    await end();
    return null;
  }
  return {
    finish: async () => {
      try {
        if (!block) { await insert(); return true; }
        return (await c.query('COMMIT')).command === 'COMMIT';
      } catch {
        return false;
      } finally {
        await end();
      }
    },
  };
}

async function timedFinish(id: number, block: boolean): Promise<number> {
  const w = await prepareWrite(id, block);
  if (!w) throw new Error('the write could not start');
  const t0 = performance.now();
  expect(await w.finish()).toBe(true);
  return performance.now() - t0;
}

beforeAll(async () => {
  env = await startSplit({ backends: 2, process: true, recovery: { graceSeconds: 1, everySeconds: 1 }, logStatements: false });
  const c = await env.client();
  await c.query(CREATE_SPLIT_PATIENT);
  await c.query("INSERT INTO patient (pat_id, pat_name, diagnosis, ward) VALUES (1, 'seed', 'seed', 'seed')");
  await c.end();
}, 180_000);
afterAll(async () => { await env?.close(); });

describe('split writes under SIGKILL', () => {
  it(`${TRIALS} trials: every row on all its fragments or none, acknowledged commits durable, nothing left prepared`, async () => {
    // How long the final statement takes when nothing fails: kills land uniformly within 1.3× it.
    const spans = { block: [] as number[], autocommit: [] as number[] };
    for (let i = 0; i < 6; i++) spans[i % 2 === 0 ? 'block' : 'autocommit'].push(await timedFinish(100_000 + i, i % 2 === 0));
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
    const span = { block: median(spans.block), autocommit: median(spans.autocommit) };
    const tally = { trials: 0, acknowledged: 0, present: 0, absent: 0, inDoubtSeen: 0, spanMs: span, byVictim: { 'cloud-a': 0, 'cloud-b': 0, proxy: 0 } as Record<string, number> };
    for (let t = 0; t < TRIALS; t++) {
      const id = 1000 + t;
      const victim = (['cloud-a', 'cloud-b', 'proxy'] as const)[t % 3] as 'cloud-a' | 'cloud-b' | 'proxy';
      const block = t % 2 === 0;
      const w = await prepareWrite(id, block);
      const running = w ? w.finish() : Promise.resolve(false);
      await sleep(Math.random() * (block ? span.block : span.autocommit) * 1.3);
      if (victim === 'proxy') env.child?.child.kill('SIGKILL');
      else await killHard(env.clusters.get(victim) as PgCluster);
      const acknowledged = await running;
      // In doubt right after the crash: prepared participants on a backend that survived.
      const survivors = (['cloud-a', 'cloud-b'] as const).filter((b) => b !== victim);
      let inDoubt = 0;
      for (const b of survivors) inDoubt += await preparedOn(b).catch(() => 0);
      if (inDoubt > 0) tally.inDoubtSeen++;
      if (victim === 'proxy') { await env.child?.exited; await env.restartProxy(); } else {
        await (env.clusters.get(victim) as PgCluster).start();
        await env.reconnect(victim);
      }
      // An error counts as not yet (a backend still restarting).
      await until('recovery', async () => (await preparedOn('cloud-a')) + (await preparedOn('cloud-b')) === 0, 60_000);
      const [a, b] = [await keysOn('cloud-a'), await keysOn('cloud-b')];
      expect(a.has(id), `trial ${t} (${victim}, ${block ? 'block' : 'autocommit'}): row ${id} on cloud-a ${a.has(id)} vs cloud-b ${b.has(id)}`).toBe(b.has(id));
      if (acknowledged) expect(a.has(id), `trial ${t}: acknowledged commit of row ${id} lost`).toBe(true);
      tally.trials++;
      tally.byVictim[victim] = (tally.byVictim[victim] ?? 0) + 1;
      if (acknowledged) tally.acknowledged++;
      if (a.has(id)) tally.present++; else tally.absent++;
    }
    // The whole table agrees too (earlier trials' rows, the seed row's fragments).
    expect([...(await keysOn('cloud-a'))].sort()).toEqual([...(await keysOn('cloud-b'))].sort());
    // Figures for the closing note (the test's output).
    process.stdout.write(`split fault trials: ${JSON.stringify(tally)}\n`);
    expect(tally.trials).toBe(TRIALS);
  }, 3_600_000);
});
