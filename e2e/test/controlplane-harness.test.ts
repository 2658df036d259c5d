// The harness's own pieces that need no control plane: the loopback egress guard (a real CONNECT
// proxy on a unix socket), chart values for scenarios, version pins, kubeconfig files, process groups.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { processRunning } from '@clarus/testing/wait.ts';
import { parseEnvFile, toolVersions } from '../src/binaries.ts';
import { chartValues } from '../src/chart.ts';
import { loopbackTarget, startEgressGuard, type EgressGuard } from '../src/egress.ts';
import { kubeconfigText } from '../src/kubeconfig.ts';
import { startProcess, waitUntil } from '../src/process.ts';

/** CONNECT through the guard; resolves with the status code and, when tunnelled, the socket. */
function connectVia(socketPath: string, authority: string): Promise<{ status: number; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath, method: 'CONNECT', path: authority });
    req.on('connect', (res, socket) => resolve({ status: res.statusCode ?? 0, socket }));
    req.on('error', reject);
    req.end();
  });
}

describe('loopback egress guard', () => {
  let dir: string;
  let guard: EgressGuard;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'clarus-guard-'));
    guard = await startEgressGuard(join(dir, 'egress.sock'));
  });
  afterAll(async () => {
    await guard.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('accepts only loopback host:port targets', () => {
    expect(loopbackTarget('127.0.0.1:9443')).toEqual(['127.0.0.1', 9443]);
    expect(loopbackTarget('localhost:80')).toEqual(['localhost', 80]);
    expect(loopbackTarget('[::1]:6443')).toEqual(['::1', 6443]);
    for (const bad of ['10.0.0.1:443', 'clarus.clarus-system.svc:443', '127.0.0.2:80', '127.0.0.1', '127.0.0.1:0',
      '127.0.0.1:70000', 'localhost.example:80']) {
      expect(loopbackTarget(bad), bad).toBeUndefined();
    }
  });

  test('tunnels to a loopback server and refuses a ClusterIP without dialing it', async () => {
    const echo = createServer((s) => s.pipe(s));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    const port = (echo.address() as AddressInfo).port;
    try {
      const ok = await connectVia(guard.socketPath, `127.0.0.1:${port}`);
      expect(ok.status).toBe(200);
      const echoed = await new Promise<string>((resolve) => {
        ok.socket.once('data', (d: Buffer) => resolve(d.toString()));
        ok.socket.write('ping');
      });
      expect(echoed).toBe('ping');
      ok.socket.destroy();
      const refused = await new Promise<number>((resolve, reject) => {
        const req = request({ socketPath: guard.socketPath, method: 'CONNECT', path: '10.0.0.17:443' });
        req.on('connect', (res, socket) => {
          socket.destroy();
          resolve(res.statusCode ?? 0);
        });
        req.on('response', (res) => resolve(res.statusCode ?? 0));
        req.on('error', reject);
        req.end();
      });
      expect(refused).toBe(403);
      expect(guard.refused).toContain('10.0.0.17:443');
      expect(guard.tunnelled).toContain(`127.0.0.1:${port}`);
    } finally {
      echo.close();
    }
  });
});

describe('harness helpers', () => {
  test('chart values: kind image, local webhook URL and CA, extra values merged deeply', () => {
    const values = chartValues({
      webhookUrl: 'https://127.0.0.1:9443/mutate-v1-pod', webhookCaPem: 'PEM',
      values: { webhook: { failurePolicy: 'Ignore' }, crds: { install: false } },
    }, { CLARUS_E2E_IMAGE: 'localhost:5000/clarus:e2e' });
    expect(values).toEqual({
      image: { repository: 'localhost:5000/clarus', tag: 'e2e', pullPolicy: 'Never' },
      webhook: { url: 'https://127.0.0.1:9443/mutate-v1-pod', caBundle: Buffer.from('PEM').toString('base64'),
        failurePolicy: 'Ignore' },
      crds: { install: false },
    });
    expect(chartValues({}, {})).toEqual({});
  });

  test('versions.env pins every tool, and each go.mod requires that version', () => {
    expect(parseEnvFile('# c\nA=1\n\n B=x \nnot a pin\n')).toEqual({ A: '1', B: 'x' });
    const v = toolVersions();
    const goMod = (tool: string): string => readFileSync(new URL(`../go/${tool}/go.mod`, import.meta.url), 'utf8');
    expect(goMod('kubernetes')).toContain(`k8s.io/kubernetes ${v.KUBERNETES_VERSION}`);
    expect(goMod('etcd')).toContain(`go.etcd.io/etcd/server/v3 ${v.ETCD_VERSION}`);
    expect(goMod('helm')).toContain(`helm.sh/helm/v3 ${v.HELM_VERSION}`);
    expect(goMod('kwok')).toContain(`sigs.k8s.io/kwok ${v.KWOK_VERSION}`);
    // Every staging module is replaced by the published version matching the Kubernetes release.
    const staging = `v0.${(v.KUBERNETES_VERSION ?? '').split('.').slice(1).join('.')}`;
    const replaced = [...goMod('kubernetes').matchAll(/^\s+(k8s\.io\/\S+) => \S+ (\S+)$/gm)];
    expect(replaced.length).toBeGreaterThan(25);
    for (const [, mod, version] of replaced) expect(version, mod).toBe(staging);
  });

  test('kubeconfig files carry the CA, and a certificate or a token', () => {
    const cert = parse(kubeconfigText({ server: 'https://127.0.0.1:1', caPem: 'CA', user: { certPem: 'C', keyPem: 'K' } }));
    expect(cert.clusters[0].cluster['certificate-authority-data']).toBe(Buffer.from('CA').toString('base64'));
    expect(cert.users[0].user).toEqual({ 'client-certificate-data': Buffer.from('C').toString('base64'),
      'client-key-data': Buffer.from('K').toString('base64') });
    const token = parse(kubeconfigText({ server: 'https://127.0.0.1:1', caPem: 'CA', user: { token: 't' } }));
    expect(token.users[0].user).toEqual({ token: 't' });
  });

  test('stopping a process also stops what it forked (process group)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'clarus-proc-'));
    try {
      const p = startProcess({ name: 'sh', command: 'bash', logPath: join(dir, 'log'),
        args: ['-c', 'sleep 300 & echo child=$!; wait'] });
      const child = await new Promise<number>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /child=(\d+)/.exec(p.tail());
          if (m?.[1]) {
            clearInterval(t);
            resolve(Number(m[1]));
          }
        }, 50);
        setTimeout(() => { clearInterval(t); reject(new Error('no child pid')); }, 10_000);
      });
      await p.stop(2_000);
      expect(p.isRunning()).toBe(false);
      // The orphaned child is gone or a zombie (init reaps it in its own time) after the group's SIGTERM.
      const alive = (): boolean => processRunning(child);
      await waitUntil('forked child gone', async () => (alive() ? undefined : true), { timeoutMs: 5_000, intervalMs: 50 });
      expect(alive()).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
