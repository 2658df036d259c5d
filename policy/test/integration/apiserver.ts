// A bare kube-apiserver (with etcd) for checking the generated CRDs against the real thing: only the
// two binaries e2e/setup.sh builds into ~/.cache/clarus, a static admin token, loopback ports.
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@clarus/testing/pg.ts';
import { until } from '@clarus/testing/wait.ts';

const CACHE = process.env.CLARUS_CACHE ?? join(homedir(), '.cache', 'clarus');

function findBinary(prefix: string, name: string): string | undefined {
  if (!existsSync(CACHE)) return undefined;
  const dir = readdirSync(CACHE).filter((d) => d.startsWith(prefix)).sort().pop();
  const bin = dir ? join(CACHE, dir, 'bin', name) : undefined;
  return bin && existsSync(bin) ? bin : undefined;
}

export const binaries = { etcd: findBinary('etcd-', 'etcd'), apiserver: findBinary('kubernetes-', 'kube-apiserver') };

export interface ApiResponse { status: number; body: { message?: string; status?: { conditions?: Array<{ type: string; status: string }> }; [k: string]: unknown } }

export interface ApiServer {
  call(method: string, path: string, body?: unknown): Promise<ApiResponse>;
  stop(): Promise<void>;
}

const TOKEN = 'clarus-crds-test-admin';

function stopProcess(p: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (p.exitCode !== null || p.signalCode !== null) return resolve();
    p.once('exit', () => resolve());
    p.kill('SIGTERM');
    setTimeout(() => p.kill('SIGKILL'), 10_000).unref();
  });
}

export async function startApiServer(): Promise<ApiServer> {
  const { etcd, apiserver } = binaries;
  if (!etcd || !apiserver) throw new Error('etcd or kube-apiserver not built (run e2e/setup.sh)');
  const dir = mkdtempSync(join(tmpdir(), 'clarus-apiserver-'));
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(join(dir, 'tokens.csv'), `${TOKEN},admin,admin,system:masters\n`);
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const log = (name: string): number => openSync(join(dir, `${name}.log`), 'a');
  const procs: ChildProcess[] = [];
  procs.push(spawn(etcd, ['--data-dir', join(dir, 'etcd'), `--listen-client-urls=http://127.0.0.1:${etcdPort}`,
    `--advertise-client-urls=http://127.0.0.1:${etcdPort}`, `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`, `--initial-cluster=default=http://127.0.0.1:${peerPort}`],
  { stdio: ['ignore', log('etcd'), log('etcd')] }));
  procs.push(spawn(apiserver, [`--etcd-servers=http://127.0.0.1:${etcdPort}`, `--cert-dir=${join(dir, 'certs')}`,
    `--secure-port=${apiPort}`, '--bind-address=127.0.0.1', '--service-cluster-ip-range=10.0.0.0/24',
    '--service-account-issuer=https://kubernetes.default.svc', `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`, `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC'], { stdio: ['ignore', log('apiserver'), log('apiserver')] }));
  const stop = async (): Promise<void> => {
    for (const p of procs.reverse()) await stopProcess(p);
    rmSync(dir, { recursive: true, force: true });
  };
  const call = (method: string, path: string, body?: unknown): Promise<ApiResponse> => new Promise((resolve, reject) => {
    const certFile = join(dir, 'certs', 'apiserver.crt');
    const req = request({
      host: '127.0.0.1', port: apiPort, path, method, ca: existsSync(certFile) ? readFileSync(certFile) : undefined,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
    }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => { text += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text.startsWith('{') ? JSON.parse(text) as ApiResponse['body'] : { message: text } }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
  try {
    await until('the apiserver to be ready', async () => (await call('GET', '/readyz').catch(() => ({ status: 0 }))).status === 200, 120_000, 250);
  } catch (e) {
    const tail = readFileSync(join(dir, 'apiserver.log'), 'utf8').split('\n').slice(-20).join('\n');
    await stop();
    throw new Error(`${(e as Error).message}\n${tail}`);
  }
  return { call, stop };
}
