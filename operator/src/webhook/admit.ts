// Admission decisions for pods (AdmissionReview v1). Pure: the proxy and its rendered configuration are
// passed in already resolved, so the table of cases is tested without an API server.
import { Buffer } from 'node:buffer';
import type { ClarusProxy } from '@clarus/crds';
import type { RuntimeConfig } from '@clarus/policy';
import { INJECT_LABEL } from '../specs/names.ts';
import type { PatchOp, PodLike } from '../specs/sidecar.ts';
import { sidecarPatch } from '../specs/sidecar.ts';
import type { BuildOptions } from '../specs/types.ts';

export interface AdmissionRequest {
  uid: string;
  kind?: { group: string; version: string; kind: string };
  operation?: string;
  namespace?: string;
  object?: PodLike;
}
export interface AdmissionReview { apiVersion: string; kind: string; request?: AdmissionRequest }

export interface AdmissionResponse {
  uid: string;
  allowed: boolean;
  patchType?: 'JSONPatch';
  patch?: string;
  warnings?: string[];
  status?: { code: number; message: string };
}

/** What the webhook needs to know about the proxy a pod asks for. */
export type ProxyTarget =
  | { found: false }
  | { found: true; proxy: ClarusProxy; rendered?: { config: RuntimeConfig; items: Array<{ key: string; path: string }> } };

export type Decision = { action: 'skip'; warning?: string } | { action: 'inject'; proxyName: string };

/** First step: does this request concern us, and which proxy does it name? */
export function classify(req: AdmissionRequest): Decision {
  if (req.kind?.kind !== 'Pod' || req.operation !== 'CREATE') return { action: 'skip' };
  const proxyName = req.object?.metadata?.labels?.[INJECT_LABEL];
  if (!proxyName) return { action: 'skip' };
  return { action: 'inject', proxyName };
}

export function respond(uid: string, ops: PatchOp[], warnings: string[] = []): AdmissionResponse {
  const base: AdmissionResponse = { uid, allowed: true, ...(warnings.length ? { warnings } : {}) };
  if (ops.length === 0) return base;
  return { ...base, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops), 'utf8').toString('base64') };
}

/** Second step, once the named proxy has been looked up. */
export function admit(req: AdmissionRequest, target: ProxyTarget, options: BuildOptions): AdmissionResponse {
  const decision = classify(req);
  if (decision.action === 'skip') return respond(req.uid, []);
  const ns = req.namespace ?? '';
  if (!target.found) return respond(req.uid, [], [`clarus: ClarusProxy ${ns}/${decision.proxyName} not found; pod not injected`]);
  if ((target.proxy.spec.mode ?? 'Deployment') !== 'Sidecar') {
    return respond(req.uid, [], [`clarus: ClarusProxy ${ns}/${decision.proxyName} is not in Sidecar mode; pod not injected`]);
  }
  if (!target.rendered) {
    return respond(req.uid, [], [`clarus: ClarusProxy ${ns}/${decision.proxyName} has no rendered configuration yet; pod not injected`]);
  }
  const ops = sidecarPatch({ pod: req.object ?? {}, proxy: target.proxy, config: target.rendered.config, items: target.rendered.items, options });
  return respond(req.uid, ops);
}

export function reviewResponse(response: AdmissionResponse): AdmissionReview & { response: AdmissionResponse } {
  return { apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response };
}
