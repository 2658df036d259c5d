// kubectl-like helpers for scenarios: server-side apply of YAML, get/list/delete, waits, and a raw
// HTTPS request with the admin client certificate (for /readyz, subresources, TokenRequest, …).
import { request as httpsRequest } from 'node:https';
import {
  ApiException, KubeConfig, KubernetesObjectApi, PatchStrategy, type KubernetesObject,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { waitUntil } from './process.ts';

export const fieldManager = 'clarus-e2e';

export interface Credentials {
  server: string;
  caPem: string;
  certPem?: string;
  keyPem?: string;
  token?: string;
  /** Skip server verification: only for health probes of components with self-signed certificates. */
  insecure?: boolean;
}

export interface RawResponse { status: number; body: string; json(): unknown }

/** One HTTPS request to the API server; never throws on an HTTP error status. */
export function rawRequest(creds: Credentials, method: string, path: string,
  body?: unknown, contentType = 'application/json'): Promise<RawResponse> {
  const url = new URL(path, creds.server);
  const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, {
      method,
      ca: creds.caPem,
      cert: creds.certPem,
      key: creds.keyPem,
      rejectUnauthorized: !creds.insecure,
      headers: {
        accept: 'application/json',
        ...(payload === undefined ? {} : { 'content-type': contentType }),
        ...(creds.token ? { authorization: `Bearer ${creds.token}` } : {}),
      },
      timeout: 30_000,
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, body: text, json: () => JSON.parse(text) as unknown });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(payload);
  });
}

/** Parses a multi-document YAML string into objects, skipping empty documents. */
export function parseManifests(yamlText: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    const [first] = doc.errors;
    if (first) throw new Error(`invalid YAML: ${first.message}`);
    const value: unknown = doc.toJS();
    if (value && typeof value === 'object') out.push(value as Manifest);
  }
  return out;
}

/** The API server's message from a failed call (the Status object's `message`), else the error text. */
export function apiErrorMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    try {
      const status = JSON.parse(text) as { message?: string };
      if (status.message) return status.message;
    } catch {
      // Not JSON: fall through to the raw text.
    }
    return text;
  }
  return err instanceof Error ? err.message : String(err);
}

export function apiErrorCode(err: unknown): number | undefined {
  return err instanceof ApiException ? err.code : undefined;
}

/** Any manifest: a KubernetesObject with whatever else its kind has (spec, data, rules, …). */
export type Manifest = KubernetesObject & { [field: string]: unknown };

export interface ObjectRef { apiVersion: string; kind: string; name: string; namespace?: string }

export class Kube {
  readonly config: KubeConfig;
  readonly objects: KubernetesObjectApi;

  constructor(kubeconfigPath: string) {
    this.config = new KubeConfig();
    this.config.loadFromFile(kubeconfigPath);
    this.objects = KubernetesObjectApi.makeApiClient(this.config);
  }

  /** Server-side apply of every document in `yaml` (or of the given objects), in order. */
  async apply(manifests: string | Manifest[], namespace?: string): Promise<Manifest[]> {
    const docs = typeof manifests === 'string' ? parseManifests(manifests) : manifests;
    const applied: Manifest[] = [];
    for (const doc of docs) {
      const obj = namespace && !doc.metadata?.namespace && doc.kind !== 'Namespace'
        ? { ...doc, metadata: { ...doc.metadata, namespace } } : doc;
      applied.push(await this.objects.patch(obj, undefined, undefined, fieldManager, true,
        PatchStrategy.ServerSideApply));
    }
    return applied;
  }

  /** The object, or undefined when it does not exist. */
  async get<T extends KubernetesObject = KubernetesObject>(ref: ObjectRef): Promise<T | undefined> {
    try {
      return await this.objects.read<T>({
        apiVersion: ref.apiVersion, kind: ref.kind, metadata: { name: ref.name, namespace: ref.namespace },
      });
    } catch (err) {
      if (apiErrorCode(err) === 404) return undefined;
      throw err;
    }
  }

  async list<T extends KubernetesObject = KubernetesObject>(apiVersion: string, kind: string,
    namespace?: string, labelSelector?: string): Promise<T[]> {
    const res = await this.objects.list<T>(apiVersion, kind, namespace, undefined, undefined, undefined,
      undefined, labelSelector);
    return res.items;
  }

  /** Deletes with background propagation; a missing object is not an error. */
  async delete(ref: ObjectRef): Promise<void> {
    try {
      await this.objects.delete({ apiVersion: ref.apiVersion, kind: ref.kind,
        metadata: { name: ref.name, namespace: ref.namespace } }, undefined, undefined, undefined, undefined,
      'Background');
    } catch (err) {
      if (apiErrorCode(err) !== 404) throw err;
    }
  }

  /** Credentials of this client's current context (client certificate or bearer token). */
  credentials(): Credentials {
    const cluster = this.config.getCurrentCluster();
    const user = this.config.getCurrentUser();
    if (!cluster?.caData) throw new Error('kubeconfig has no certificate-authority-data');
    const pem = (b64: string | undefined): string | undefined => b64 ? Buffer.from(b64, 'base64').toString() : undefined;
    return { server: cluster.server, caPem: pem(cluster.caData) ?? '', certPem: pem(user?.certData),
      keyPem: pem(user?.keyData), token: user?.token };
  }

  /** A raw request as this client (e.g. a subresource such as /status or /scale). */
  request(method: string, path: string, body?: unknown, contentType?: string): Promise<RawResponse> {
    return rawRequest(this.credentials(), method, path, body, contentType);
  }

  /** Polls until `check` returns a value (not undefined), e.g. an object in the wanted state. */
  waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
    return waitUntil(what, check, { timeoutMs, intervalMs: 300 });
  }

  /**
   * A namespace with the given labels, returned once its `default` ServiceAccount exists: the
   * ServiceAccount admission plugin rejects pods in a namespace until the controller has made it.
   */
  async createNamespace(name: string, labels: Record<string, string> = {}): Promise<void> {
    await this.apply([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } }]);
    await this.waitFor(`ServiceAccount ${name}/default`, () =>
      this.get({ apiVersion: 'v1', kind: 'ServiceAccount', name: 'default', namespace: name }));
  }
}
