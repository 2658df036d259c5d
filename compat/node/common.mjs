// Shared plumbing of the Node ORM suites (issue 11): endpoints from the environment (CLARUS_*: the
// proxy whose policy encrypts the suite's customer table; ORACLE_*: a plain database reached
// directly; BACKEND_*: the proxy's database reached directly), the proxy/oracle comparison, the
// backend scan, and `PASS name` / `FAIL name: reason` lines.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { isDeepStrictEqual, inspect } from 'node:util';

// The ORMs live outside the workspace (scripts/compat.sh installs them): loaded from there.
const NM = process.env.COMPAT_NODE_MODULES ?? '';
const load = createRequire(path.join(NM, 'package.json'));
export const need = (name) => load(name);
export const DIRECT = process.env.COMPAT_TARGET === 'direct';
export const CANARY = 'OrmCanary';

export function endpoint(prefix) {
  const e = process.env;
  const root = e[`${prefix}_SSLROOTCERT`];
  return {
    host: e[`${prefix}_HOST`], port: Number(e[`${prefix}_PORT`]), user: e[`${prefix}_USER`], password: e[`${prefix}_PASSWORD`],
    database: e[`${prefix}_DATABASE`] || 'postgres',
    ssl: e[`${prefix}_SSLMODE`] && e[`${prefix}_SSLMODE`] !== 'disable' ? { ca: root ? fs.readFileSync(root, 'utf8') : undefined, rejectUnauthorized: true } : false,
  };
}

export async function backendRows(sql, params = []) {
  const { Client } = need('pg');
  const c = new Client(endpoint('BACKEND'));
  await c.connect();
  try {
    return (await c.query(sql, params)).rows;
  } finally {
    await c.end();
  }
}

export function check(cond, what) {
  if (!cond) throw new Error(what);
}

/** The encrypted columns are bytea in the backend; no canary is stored anywhere in the table. */
export async function storedCheck(table, encrypted = ['name', 'email', 'ssn']) {
  if (DIRECT) return;
  const types = Object.fromEntries((await backendRows('SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1', [table])).map((r) => [r.column_name, r.data_type]));
  for (const c of encrypted) check(types[c] === 'bytea', `${table}.${c} is stored as ${types[c]}, not bytea`);
  check(`${encrypted[1]}__bidx` in types, `${table} has no blind index of ${encrypted[1]}`);
  const texts = (await backendRows(`SELECT t::text AS t FROM "${table}" t`)).map((r) => r.t);
  const hex = Buffer.from(CANARY).toString('hex');
  const leaked = texts.filter((t) => t.toLowerCase().includes(CANARY.toLowerCase()) || t.includes(hex));
  check(leaked.length === 0, `plaintext stored in ${table}: ${leaked.slice(0, 2).join(' | ')}`);
}

export class Suite {
  constructor(name) { this.name = name; this.passed = 0; this.failed = 0; }

  async run(test, fn) {
    try {
      await fn();
      this.passed++;
      console.log(`PASS ${this.name}.${test}`);
    } catch (e) {
      this.failed++;
      console.log(`FAIL ${this.name}.${test}: ${String(e && e.message || e).split('\n').slice(0, 3).join(' / ')}`);
      if (process.env.COMPAT_VERBOSE) console.log(e && e.stack);
    }
  }

  /** fn('CLARUS') and fn('ORACLE') must show the application the same. */
  async same(test, fn) {
    await this.run(test, async () => {
      const got = await fn('CLARUS');
      const want = await fn('ORACLE');
      check(isDeepStrictEqual(got, want), `through the proxy ${inspect(got, { depth: 6 })}\n  directly ${inspect(want, { depth: 6 })}`);
    });
  }

  finish() {
    console.log(`${this.name}: ${this.passed} passed, ${this.failed} failed`);
    process.exitCode = this.failed ? 1 : 0;
  }
}

/** Memoizes one application life per target; each step reports the life's failure. */
export function lives(fn) {
  const done = new Map();
  return (step) => async (target) => {
    if (!done.has(target)) done.set(target, fn(target).then((v) => ({ v }), (e) => ({ e })));
    const r = await done.get(target);
    if (r.e) throw r.e;
    return r.v[step];
  };
}

