// The replicas of a Deployment-mode proxy are each other's peers for cancel requests that reach
// the wrong replica (sidecar/src/io/peer-cancel.ts): a headless Service lists every pod's address
// (ready or not: a draining pod still holds sessions), each pod is told that name, the metrics
// port, its own pod name (its replica id) and a shared secret. The secret is derived from the
// rendered secret files (an HMAC under their hash): every replica of one rendering gets the same
// one, it changes when they change (which rolls the pods), and nothing new needs storing.
import { createHash, createHmac } from 'node:crypto';
import type { ClarusProxy } from '@clarus/crds';
import { CONFIG_DIR, ownedMeta, selectorLabels } from './names.ts';
import type { BuildInput, KubeObject, Rendered } from './types.ts';

export const PEER_SECRET_PATH = 'peer-secret';

export const peersServiceName = (proxyName: string): string => `${proxyName}-peers`;

/** 64 hex characters derived from the rendered secret files; undefined when there are none. */
export function peerSecret(rendered: Rendered): string | undefined {
  if (rendered.files.length === 0) return undefined;
  const files = [...rendered.files].sort((a, b) => a.path.localeCompare(b.path));
  const key = createHash('sha256');
  for (const f of files) key.update(`${f.path}\u0000${f.content}\u0000`);
  return createHmac('sha256', key.digest()).update('clarus/peer-cancel/v1').digest('hex');
}

/** The rendering plus the peer secret file (Deployment mode), so the Secret and the volume carry it. */
export function withPeerSecret(rendered: Rendered): Rendered {
  const secret = peerSecret(rendered);
  if (!secret) return rendered;
  return { ...rendered, files: [...rendered.files, { path: PEER_SECRET_PATH, secretKey: PEER_SECRET_PATH, content: secret }] };
}

export function buildPeersService({ proxy, rendered }: BuildInput): KubeObject {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMeta(proxy, peersServiceName(proxy.metadata.name)),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(proxy),
      ports: [{ name: 'metrics', port: rendered.config.metricsListen.port, targetPort: 'metrics', protocol: 'TCP' }],
    },
  };
}

/** Proxy arguments naming the peers (the headless Service's DNS name) and the secret file. */
export function peerArgs(proxy: ClarusProxy, rendered: Rendered): string[] {
  if (!rendered.files.some((f) => f.path === PEER_SECRET_PATH)) return [];
  const ns = proxy.metadata.namespace ?? 'default';
  return ['--peers', `dns:${peersServiceName(proxy.metadata.name)}.${ns}.svc`, '--peer-port', String(rendered.config.metricsListen.port),
    '--peer-secret-file', `${CONFIG_DIR}/${PEER_SECRET_PATH}`];
}

/** The pod's name is its replica identity (cancel keys carry a hash of it). */
export const POD_NAME_ENV = { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } };
