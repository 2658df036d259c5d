// HTTPS server for the mutating admission webhook. It looks the named proxy up live (any replica can
// answer, leader or not) and delegates the decision to admit.ts.
import https from 'node:https';
import type { ClarusProxy } from '@clarus/crds';
import type { RuntimeConfig } from '@clarus/policy';
import type { KubeClient } from '../kube/client.ts';
import { Resources } from '../kube/resources.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import { parseLayout } from '../specs/config.ts';
import { CONFIG_KEY, LAYOUT_ANNOTATION, configMapName, secretName } from '../specs/names.ts';
import type { BuildOptions, KubeObject } from '../specs/types.ts';
import type { AdmissionReview, ProxyTarget } from './admit.ts';
import { admit, classify, respond, reviewResponse } from './admit.ts';

const MAX_BODY = 4 * 1024 * 1024;

export interface WebhookDeps { client: KubeClient; options: BuildOptions; log: Logger; metrics: OperatorMetrics }

export async function resolveTarget(client: KubeClient, namespace: string, name: string): Promise<ProxyTarget> {
  const proxy = await client.get<ClarusProxy & KubeObject>(Resources.ClarusProxy, { namespace, name });
  if (!proxy) return { found: false };
  const cm = await client.get<KubeObject & { data?: Record<string, string> }>(Resources.ConfigMap, { namespace, name: configMapName(name) });
  const json = cm?.data?.[CONFIG_KEY];
  if (!json) return { found: true, proxy };
  const secret = await client.get<KubeObject>(Resources.Secret, { namespace, name: secretName(name) });
  const items = parseLayout(secret?.metadata.annotations?.[LAYOUT_ANNOTATION]);
  return { found: true, proxy, rendered: { config: JSON.parse(json) as RuntimeConfig, items } };
}

async function readBody(req: import('node:http').IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY) throw new Error('admission review too large');
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function handleReview(deps: WebhookDeps, body: string): Promise<ReturnType<typeof reviewResponse>> {
  const review = JSON.parse(body) as AdmissionReview;
  const req = review.request;
  if (!req) throw new Error('AdmissionReview without request');
  const decision = classify(req);
  if (decision.action === 'skip') return reviewResponse(respond(req.uid, []));
  const target = await resolveTarget(deps.client, req.namespace ?? '', decision.proxyName);
  const response = admit(req, target, deps.options);
  deps.log.info('admission', { namespace: req.namespace, proxy: decision.proxyName, patched: Boolean(response.patch), warnings: response.warnings });
  return reviewResponse(response);
}

export interface WebhookListen { host: string; port: number; path: string }

export function startWebhookServer(deps: WebhookDeps, tls: { certPem: string; keyPem: string }, listen: WebhookListen): Promise<https.Server> {
  const { host, port, path } = listen;
  const server = https.createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    if (req.method !== 'POST' || req.url?.split('?')[0] !== path) {
      res.writeHead(404).end();
      return;
    }
    void readBody(req).then((body) => handleReview(deps, body)).then((out) => {
      deps.metrics.webhookRequests.inc({ outcome: out.response.patch ? 'injected' : 'skipped' });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(out));
    }, (error: unknown) => {
      deps.metrics.webhookRequests.inc({ outcome: 'error' });
      deps.log.error('admission failed', { error });
      res.writeHead(400, { 'Content-Type': 'text/plain' }).end(error instanceof Error ? error.message : 'bad request');
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}
