// Installs the operator chart into a control plane the way scenarios need it: idempotent
// (`helm upgrade --install`), values passed as a file (URLs and base64 survive unmangled), and on a
// kind cluster the locally built image (CLARUS_E2E_IMAGE, loaded into the nodes, never pulled).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ControlPlane } from './controlplane.ts';
import { chartDir } from './helm.ts';

export interface InstallOptions {
  release?: string;
  namespace?: string;
  /** Extra values, merged over the defaults below (nested objects, as in values.yaml). */
  values?: Record<string, unknown>;
  /** Point the webhook at a local process (https://127.0.0.1:PORT/PATH) instead of the Service. */
  webhookUrl?: string;
  /** PEM of the CA that signed that local webhook's certificate. */
  webhookCaPem?: string;
  /** helm --wait for the operator Deployment to be Available (kwok or real pods). Default true. */
  wait?: boolean;
}

export interface Installed {
  release: string;
  namespace: string;
  /** Prefix of every object name: <release>-clarus-operator. */
  fullname: string;
  serviceAccount: string;
  /** Output of helm (NOTES). */
  output: string;
}

function imageValues(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const image = env.CLARUS_E2E_IMAGE;
  if (!image) return {};
  const at = image.lastIndexOf(':');
  return { image: { repository: image.slice(0, at), tag: image.slice(at + 1), pullPolicy: 'Never' } };
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    const bothObjects = prev && typeof prev === 'object' && !Array.isArray(prev) && v && typeof v === 'object'
      && !Array.isArray(v);
    out[k] = bothObjects ? merge(prev as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

export function chartValues(opts: InstallOptions, env: NodeJS.ProcessEnv = process.env): Record<string, unknown> {
  const webhook: Record<string, unknown> = {};
  if (opts.webhookUrl) webhook.url = opts.webhookUrl;
  if (opts.webhookCaPem) webhook.caBundle = Buffer.from(opts.webhookCaPem).toString('base64');
  return merge(merge(imageValues(env), Object.keys(webhook).length ? { webhook } : {}), opts.values ?? {});
}

export async function installOperatorChart(cp: ControlPlane, opts: InstallOptions = {}): Promise<Installed> {
  const release = opts.release ?? 'clarus';
  const namespace = opts.namespace ?? 'clarus-system';
  const valuesFile = join(cp.dir, `values-${release}-${Date.now()}.json`);
  writeFileSync(valuesFile, JSON.stringify(chartValues(opts), null, 2));
  const args = ['upgrade', '--install', release, chartDir, '--namespace', namespace, '--create-namespace',
    '--values', valuesFile];
  if (opts.wait ?? true) args.push('--wait', '--timeout', '5m');
  const output = await cp.helm.ok(args);
  const fullname = release.includes('clarus-operator') ? release : `${release}-clarus-operator`;
  return { release, namespace, fullname, serviceAccount: fullname, output };
}
