// The image, as the Dockerfile builds it, without a container engine (this machine has none):
// e2e/src/image.ts runs every stage's steps in folders standing for their file systems, COPY through
// .dockerignore's rules. Then the last stage is checked as the image: its entrypoint, user and
// contents (the built proxy, both native modules, the engine's data directories, production dependencies only, nothing the user
// cannot read), and its proxy, started from the image's folder as the operator's pods run it (uid
// 65532, a clean environment, writing no file), encrypts end to end (the backend stores bytea without the plaintext) and computes in
// its in-proxy engine. Real PostgreSQL 15. The host's Node 24 and C compiler stand in for the base
// image's; `apt-get` is checked (the packages installed here), not run.
import { execFileSync } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPostgres } from '@clarus/testing/pg.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writePeopleConfig } from '@clarus/testing/proxy.ts';
import type { ProxyConfigDir } from '@clarus/testing/proxy.ts';
import { PROXY_UID } from '@clarus/operator/specs/pod.ts';
import { wantedDataDirs as engineDataDirs } from '@clarus/sidecar/residual/datadir-write.ts';
import { buildWithoutEngine, type BuiltImage } from '../src/image.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '../..');
/** The image's USER, which the operator's chart runs (charts/clarus-operator/values.yaml). */
const IMAGE_UID = 1000;

let out: string;
let image: BuiltImage;
let app: string;

function* walk(dir: string): Generator<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    yield p;
    if (lstatSync(p).isDirectory()) yield* walk(p);
  }
}

beforeAll(async () => {
  out = mkdtempSync(join(tmpdir(), 'clarus-image-'));
  chmodSync(out, 0o755);
  image = await buildWithoutEngine(REPO, out, dirname(process.execPath));
  app = join(image.root, image.workdir);
}, 1_200_000);

afterAll(() => { if (out) rmSync(out, { recursive: true, force: true }); });

describe('the image built from the Dockerfile', () => {
  it('runs every step from the files the builder is sent, and ends as the chart expects', () => {
    expect(image.log.filter((l) => l.startsWith('FROM'))).toEqual(['FROM node:24-bookworm-slim AS manifests', 'FROM manifests AS deps', 'FROM manifests AS build', 'FROM node:24-bookworm-slim']);
    expect(image.log).toContain('RUN bash scripts/build-native.sh');
    expect(image.log).toContain('RUN node scripts/build-engine.ts');
    expect(image.entrypoint).toEqual(['cli/bin/clarus']);
    expect(image.workdir).toBe('/app');
    expect(image.user).toBe(`${IMAGE_UID}:${IMAGE_UID}`);
    expect(image.env.NODE_ENV).toBe('production');
    expect(image.exposed).toEqual(['5432', '8080', '9443']);
    expect(readFileSync(join(REPO, 'charts/clarus-operator/values.yaml'), 'utf8')).toMatch(new RegExp(`runAsUser: ${IMAGE_UID}\\b`));
  });

  it("holds the built proxy, both native modules and the engine's data directories, production dependencies only, nothing of tests, benches or docs", () => {
    const engine = engineDataDirs().map((f) => `build/engine/${f}`);
    expect(readdirSync(join(app, 'build/engine')).map((f) => `build/engine/${f}`).sort()).toEqual([...engine].sort());
    for (const f of ['build/js/cli/src/main.js', 'build/js/.built', 'build/native/clarus-relay.node', 'build/native/clarus-aes.node', ...engine, 'node_modules/pg/package.json', 'node_modules/@electric-sql/pglite/package.json']) {
      expect(existsSync(join(app, f)), f).toBe(true);
    }
    for (const f of ['node_modules/typescript', 'node_modules/vitest', 'node_modules/eslint', 'bench', 'compat', 'docs', 'charts', 'scripts', 'e2e/src', 'testing/src', '.git', '.tools']) {
      expect(existsSync(join(app, f)), f).toBe(false);
    }
    const files = [...walk(app)].filter((p) => !p.includes('/node_modules/'));
    expect(files.filter((p) => p.endsWith('.test.ts') || /\/test\//.test(p))).toEqual([]);
    // cli/bin/clarus runs build/js only while no source is newer than its stamp.
    const newer = execFileSync('find', ['crds/src', 'policy/src', 'log/src', 'sidecar/src', 'operator/src', 'cli/src', 'package.json', '-newer', 'build/js/.built', '-type', 'f'], { cwd: app, encoding: 'utf8' });
    expect(newer).toBe('');
  });

  it('has nothing its user cannot read (files are root-owned in the image; the operator runs as uid 1000, the proxy as 65532)', () => {
    const unreadable = [...walk(app)].filter((p) => {
      const s = lstatSync(p);
      if (s.isSymbolicLink()) return false;
      return s.isDirectory() ? (s.mode & 0o005) !== 0o005 : (s.mode & 0o004) === 0;
    });
    expect(unreadable).toEqual([]);
  });

  describe("the image's proxy", () => {
    let cluster: PgCluster;
    let cfg: ProxyConfigDir;
    let launcher: string;

    beforeAll(async () => {
      cluster = await startPostgres();
      cfg = writePeopleConfig(cluster);
      // The mounted configuration: readable by the proxy container's user, not writable (root's).
      execFileSync('chmod', ['-R', 'a+rX', cfg.dir]);
      // The container as the operator runs it (pod.ts): the image's working folder, the proxy's user
      // (no account, no home), the image's environment and nothing else.
      launcher = join(out, 'container.sh');
      const env = Object.entries({ ...image.env, PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: '/nonexistent' }).map(([k, v]) => `${k}=${v}`);
      writeFileSync(launcher, [
        '#!/bin/sh', `cd '${app}' || exit 1`,
        `exec setpriv --reuid=${PROXY_UID} --regid=${PROXY_UID} --clear-groups env -i ${env.map((e) => `'${e}'`).join(' ')} CLARUS_RESIDUAL=on CLARUS_WORKERS=1 ${image.entrypoint.map((a) => `'${a}'`).join(' ')} "$@"`, '',
      ].join('\n'), { mode: 0o755 });
    });

    afterAll(async () => {
      cfg?.destroy();
      await cluster?.destroy();
    });

    it('runs as the pod runs it: encrypts end to end, computes in its engine (loaded, not initdb), with the native modules, writes no file', async () => {
      const proc = await startProxyProcess(cfg.dir, [], {}, launcher);
      try {
        const listening = proc.logs.find((l) => l.msg === 'listening') ?? {};
        expect(listening.aes).toMatch(/^AES-NI/);
        expect(listening.relay).toMatch(/^native/);
        const status = readFileSync(`/proc/${proc.child.pid}/status`, 'utf8');
        expect(/^Uid:\s+(\d+)/m.exec(status)?.[1]).toBe(String(PROXY_UID));
        const cmdline = readFileSync(`/proc/${proc.child.pid}/cmdline`, 'utf8').split('\0');
        expect(cmdline).toContain(join(app, 'build/js/cli/src/main.js'));
        const c = new pg.Client({ host: proc.host, port: proc.port, user: DEFAULT_USER.name, password: DEFAULT_USER.password, database: 'postgres' });
        c.on('error', () => undefined);
        await c.connect();
        try {
          await c.query('CREATE TABLE people (id bigint PRIMARY KEY, name text)');
          await c.query('INSERT INTO people (id, name) VALUES ($1, $2), ($3, $4)', [1, 'Ada Lovelace', 2, 'Alan Turing']);
          expect((await c.query('SELECT name FROM people WHERE id = 1')).rows).toEqual([{ name: 'Ada Lovelace' }]);
          // Computed in the in-proxy engine: PGlite is a production dependency, its worker a module of
          // the build, its first instance loaded from the image's build/engine (no initdb).
          expect((await c.query('SELECT upper(name) AS u FROM people ORDER BY 1')).rows).toEqual([{ u: 'ADA LOVELACE' }, { u: 'ALAN TURING' }]);
          const metrics = await (await fetch(`http://127.0.0.1:${proc.metricsPort}/metrics`)).text();
          expect(metrics).toMatch(/^clarus_residual_engine_starts_total 1$/m);
          expect(metrics).toMatch(/^clarus_residual_engine_initdbs_total 0$/m);
        } catch (e) {
          throw new Error(`${(e as Error).message}; the proxy's last log lines: ${JSON.stringify(proc.logs.slice(-12))}`, { cause: e });
        } finally {
          await c.end();
        }
        const stored = await cluster.psql("SELECT string_agg(pg_typeof(name)::text || ' ' || name::text, E'\\n') FROM people");
        expect(stored.trim().split('\n').every((l) => l.startsWith('bytea '))).toBe(true);
        for (const clear of ['Ada', 'Alan', Buffer.from('Ada Lovelace').toString('hex')]) expect(stored).not.toContain(clear);
      } finally {
        await proc.close();
      }
      // The pod's root file system is read-only (pod.ts): the image's tree is root's, and nothing was
      // written where this user could write.
      const written = execFileSync('find', ['/tmp', '/var/tmp', '/dev/shm', '-xdev', '-uid', String(PROXY_UID)], { encoding: 'utf8' });
      expect(written).toBe('');
    }, 120_000);
  });
});
