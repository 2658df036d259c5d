// The image built without a container engine (this machine has none; image-build.test.ts): every
// stage of the project's Dockerfile in a folder of its own standing for its file system, COPY from
// the build context through .dockerignore's rules or from an earlier stage, RUN in the stage's
// working folder. What stands in for the base image is this host: its Node (whose major must be
// the image tag's) and, for `apt-get install`, packages that must already be installed here (that
// RUN is checked with dpkg, not run). What it shows: every file a step needs is in the context the
// builder would send, the steps succeed, and the last stage's folder is the image's /.
import { execFileSync, spawn } from 'node:child_process';
import { cpSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, normalize } from 'node:path';
import { dockerignore, parseDockerfile, type Stage } from '@clarus/testing/dockerfile.ts';

/** A stage as its steps leave it. */
interface StageState {
  /** The stage's file system (the last stage's: the image's `/`). */
  root: string;
  workdir: string;
  env: Record<string, string>;
  user: string | undefined;
  entrypoint: string[];
  exposed: string[];
}

export interface BuiltImage extends StageState {
  /** What each step did, in order (for a failure's account). */
  log: string[];
}

/** Context files under `rel` (a file or a folder) that .dockerignore lets the builder see. */
function contextFiles(context: string, rel: string, ignored: (p: string) => boolean): string[] {
  const abs = join(context, rel);
  if (!existsSync(abs)) return [];
  if (!lstatSync(abs).isDirectory()) return ignored(rel) ? [] : [rel];
  return readdirSync(abs).flatMap((name) => contextFiles(context, `${rel}/${name}`, ignored));
}

/** A path inside `root` for an absolute path of the image (never outside it). */
function inside(root: string, path: string): string {
  const n = normalize(`/${path}`);
  return join(root, n);
}

/** What COPY reads from: the build context (through .dockerignore) and the earlier named stages. */
interface Sources { context: string; ignored: (p: string) => boolean; stages: Map<string, StageState> }

function copyStep(s: Extract<Stage['steps'][number], { op: 'COPY' }>, st: StageState, { context, ignored, stages }: Sources): string {
  const destAbs = s.dest.startsWith('/') ? s.dest : join(st.workdir, s.dest);
  const intoFolder = s.dest.endsWith('/') || s.sources.length > 1;
  for (const src of s.sources) {
    if (s.from) {
      const from = stages.get(s.from);
      if (!from) throw new Error(`COPY --from=${s.from}: no such stage`);
      const abs = inside(from.root, src);
      if (!existsSync(abs)) throw new Error(`COPY --from=${s.from} ${src}: not found in that stage`);
      const isDir = lstatSync(abs).isDirectory();
      const target = inside(st.root, isDir || !intoFolder ? destAbs : join(destAbs, basename(src)));
      mkdirSync(isDir ? target : dirname(target), { recursive: true });
      cpSync(abs, target, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      continue;
    }
    const rel = normalize(src).replace(/\/+$/, '');
    if (rel.startsWith('..')) throw new Error(`COPY ${src}: outside the build context`);
    const files = contextFiles(context, rel, ignored);
    if (files.length === 0) throw new Error(`COPY ${src}: not found in the build context, or left out by .dockerignore`);
    const isDir = lstatSync(join(context, rel)).isDirectory();
    for (const f of files) {
      const under = isDir ? f.slice(rel.length + 1) : (intoFolder ? basename(f) : '');
      const target = inside(st.root, under ? join(destAbs, under) : destAbs);
      mkdirSync(dirname(target), { recursive: true });
      cpSync(join(context, f), target, { verbatimSymlinks: true, preserveTimestamps: true });
    }
  }
  return `COPY ${s.from ? `--from=${s.from} ` : ''}${s.sources.join(' ')} ${s.dest}`;
}

/** `apt-get update && apt-get install … pkgs && …`: the packages, each of which must be installed here. */
function checkAptInstall(command: string): string {
  const install = /apt-get install((?:\s+[^&\s]+)+)/.exec(command);
  const pkgs = (install?.[1] ?? '').trim().split(/\s+/).filter((w) => w && !w.startsWith('-'));
  if (pkgs.length === 0) throw new Error(`RUN ${command}: apt-get without a package list is not understood`);
  for (const p of pkgs) {
    try { execFileSync('dpkg', ['-s', p], { stdio: 'ignore' }); } catch { throw new Error(`RUN apt-get install ${p}: not installed on this host, which stands in for the base image`); }
  }
  return `RUN apt-get install ${pkgs.join(' ')} (installed on this host; not run)`;
}

function runStep(command: string, st: StageState, pathPrefix: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const cwd = inside(st.root, st.workdir);
    const child = spawn('sh', ['-c', command], { cwd, env: { ...process.env, PATH: `${pathPrefix}:${process.env.PATH ?? ''}`, ...st.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve(`RUN ${command}`) : reject(new Error(`RUN ${command}: exit ${code}\n${out.slice(-3000)}`))));
  });
}

/** Builds `context`'s Dockerfile into folders under `out`; the host's Node (at `nodeBin`) stands in for the base image's. */
export async function buildWithoutEngine(context: string, out: string, nodeBin: string): Promise<BuiltImage> {
  const stagesText = parseDockerfile(readFileSync(join(context, 'Dockerfile'), 'utf8'));
  const ignoreFile = join(context, '.dockerignore');
  const ignored = dockerignore(existsSync(ignoreFile) ? readFileSync(ignoreFile, 'utf8') : '');
  const nodeMajor = execFileSync(join(nodeBin, 'node'), ['--version'], { encoding: 'utf8' }).trim().replace(/^v(\d+).*$/s, '$1');
  const named = new Map<string, StageState>();
  const log: string[] = [];
  let last: StageState | undefined;
  for (const [i, stage] of stagesText.entries()) {
    const root = join(out, `stage-${i}${stage.name ? `-${stage.name}` : ''}`);
    const parent = named.get(stage.from);
    let st: StageState;
    if (parent) {
      cpSync(parent.root, root, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
      st = { ...parent, root, env: { ...parent.env }, exposed: [...parent.exposed] };
    } else {
      const tag = /^node:(\d+)(?:[-.]|$)/.exec(stage.from);
      if (!tag) throw new Error(`FROM ${stage.from}: only node:<major> base images are stood in for`);
      if (tag[1] !== nodeMajor) throw new Error(`FROM ${stage.from}: this host's Node is ${nodeMajor}, not ${tag[1]}`);
      mkdirSync(root, { recursive: true });
      st = { root, workdir: '/', env: {}, user: undefined, entrypoint: [], exposed: [] };
    }
    log.push(`FROM ${stage.from}${stage.name ? ` AS ${stage.name}` : ''}`);
    for (const s of stage.steps) {
      switch (s.op) {
        case 'WORKDIR':
          st.workdir = s.path.startsWith('/') ? s.path : join(st.workdir, s.path);
          mkdirSync(inside(st.root, st.workdir), { recursive: true });
          log.push(`WORKDIR ${s.path}`);
          break;
        case 'COPY': log.push(copyStep(s, st, { context, ignored, stages: named })); break;
        case 'RUN': log.push(/^\s*apt-get\b/.test(s.command) ? checkAptInstall(s.command) : await runStep(s.command, st, nodeBin)); break;
        case 'ENV': st.env[s.name] = s.value; log.push(`ENV ${s.name}`); break;
        case 'USER': st.user = s.user; log.push(`USER ${s.user}`); break;
        case 'EXPOSE': st.exposed.push(...s.ports); log.push(`EXPOSE ${s.ports.join(' ')}`); break;
        case 'ENTRYPOINT': st.entrypoint = s.argv; log.push(`ENTRYPOINT ${JSON.stringify(s.argv)}`); break;
      }
    }
    if (stage.name) named.set(stage.name, st);
    last = st;
  }
  if (!last) throw new Error('Dockerfile: no stage');
  return { ...last, log };
}
