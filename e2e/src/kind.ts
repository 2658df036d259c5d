// `make kind-e2e`: the control-plane scenarios on a kind cluster with real pods. Creates the cluster,
// builds the one `clarus` image, loads it into the nodes and runs the e2e vitest project attached to
// that cluster (CLARUS_E2E_KUBECONFIG); the scenarios install the chart with that image themselves.
// Needs docker and kind on PATH; not part of `make test`.
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const root = new URL('../..', import.meta.url).pathname;
const cluster = process.env.CLARUS_KIND_CLUSTER ?? 'clarus-e2e';
const image = process.env.CLARUS_E2E_IMAGE ?? 'clarus:e2e';

function has(command: string, args: string[]): boolean {
  return spawnSync(command, args, { stdio: 'ignore' }).status === 0;
}

function step(what: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): void {
  process.stderr.write(`kind-e2e: ${what}\n`);
  const res = spawnSync(command, args, { stdio: 'inherit', cwd: root, env });
  if (res.status !== 0) throw new Error(`kind-e2e: ${what} failed (${command} exit ${res.status ?? res.signal})`);
}

export function main(argv: string[]): number {
  const missing = [['docker', ['version']], ['kind', ['version']]]
    .filter(([cmd, args]) => !has(cmd as string, args as string[])).map(([cmd]) => cmd);
  if (missing.length > 0) {
    process.stderr.write(`kind-e2e: needs a container engine and kind: ${missing.join(' and ')} not found or not`
      + ' working. Install Docker and kind to run the scenarios on real pods;'
      + ' `make e2e` runs them on the local control plane without containers.\n');
    return 2;
  }
  const keep = argv.includes('--keep');
  const kubeconfig = join(mkdtempSync(join(tmpdir(), 'clarus-kind-')), 'kubeconfig');
  try {
    const exists = spawnSync('kind', ['get', 'clusters'], { encoding: 'utf8' }).stdout.split('\n').includes(cluster);
    if (!exists) step(`create cluster ${cluster}`, 'kind', ['create', 'cluster', '--name', cluster, '--wait', '180s']);
    step('write kubeconfig', 'bash', ['-c', `kind get kubeconfig --name ${cluster} > ${kubeconfig}`]);
    step(`build image ${image}`, 'docker', ['build', '-t', image, '.']);
    step('load image into the nodes', 'kind', ['load', 'docker-image', image, '--name', cluster]);
    step('run the scenarios', join(root, 'node_modules/.bin/vitest'), ['run', '--project', 'e2e'], {
      ...process.env,
      CLARUS_E2E_KUBECONFIG: kubeconfig,
      CLARUS_E2E_KIND_NODE: `${cluster}-control-plane`,
      CLARUS_E2E_IMAGE: image,
    });
    return 0;
  } catch (err) {
    process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  } finally {
    if (!keep) spawnSync('kind', ['delete', 'cluster', '--name', cluster], { stdio: 'inherit' });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2));
