// Thin HTTP client for the Kubernetes API: the only place in the operator that talks to the API server.
// Authentication (client certificates, tokens, CA) comes from @kubernetes/client-node's KubeConfig.
import https from 'node:https';
import http from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { FIELD_MANAGER } from '../specs/names.ts';
import type { KubeObject } from '../specs/types.ts';
import { resourceFor, resourcePath } from './resources.ts';
import type { PathArgs, ResourceType } from './resources.ts';

export class ApiError extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.reason = reason;
  }
}

export const isNotFound = (e: unknown): boolean => e instanceof ApiError && e.status === 404;
export const isConflict = (e: unknown): boolean => e instanceof ApiError && e.status === 409;

export interface ListResult<T> { items: T[]; resourceVersion: string }
export interface WatchEvent<T> { type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR'; object: T }

export interface WatchOptions { resourceVersion: string; namespace?: string; labelSelector?: string; signal: AbortSignal }

interface RequestSpec { method: string; path: string; body?: unknown; contentType?: string; timeoutMs?: number }

export class KubeClient {
  readonly #kc: KubeConfig;
  readonly #server: URL;

  constructor(kc: KubeConfig) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    this.#server = new URL(cluster.server);
  }

  static fromEnvironment(): KubeClient {
    const kc = new KubeConfig();
    kc.loadFromDefault();
    return new KubeClient(kc);
  }

  async #open(spec: RequestSpec): Promise<http.IncomingMessage> {
    const opts: https.RequestOptions = {};
    await this.#kc.applyToHTTPSOptions(opts);
    const url = new URL(spec.path, this.#server);
    const headers: Record<string, string> = { Accept: 'application/json', ...(opts.headers as Record<string, string>) };
    const payload = spec.body === undefined ? undefined : JSON.stringify(spec.body);
    if (payload !== undefined) headers['Content-Type'] = spec.contentType ?? 'application/json';
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { ...opts, method: spec.method, headers, timeout: spec.timeoutMs ?? 30_000 }, resolve);
      req.on('timeout', () => req.destroy(new Error(`request ${spec.method} ${spec.path} timed out`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async request<T>(spec: RequestSpec): Promise<T> {
    const res = await this.#open(spec);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const status = res.statusCode ?? 0;
    if (status >= 200 && status < 300) return (text ? JSON.parse(text) : {}) as T;
    throw toApiError(status, text, spec);
  }

  async get<T = KubeObject>(t: ResourceType, args: PathArgs): Promise<T | undefined> {
    try {
      return await this.request<T>({ method: 'GET', path: resourcePath(t, args) });
    } catch (e) {
      if (isNotFound(e)) return undefined;
      throw e;
    }
  }

  async list<T = KubeObject>(t: ResourceType, namespace?: string, labelSelector?: string): Promise<ListResult<T>> {
    const query = labelSelector ? `?labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const body = await this.request<{ items: T[]; metadata: { resourceVersion: string } }>({
      method: 'GET',
      path: `${resourcePath(t, namespace ? { namespace } : {})}${query}`,
    });
    return { items: body.items ?? [], resourceVersion: body.metadata.resourceVersion };
  }

  /** Server-side apply under the operator's field manager, forcing ownership of the fields it sets. */
  async apply<T = KubeObject>(obj: KubeObject, subresource?: string): Promise<T> {
    const t = resourceFor(obj.apiVersion, obj.kind);
    const path = resourcePath(t, { namespace: obj.metadata.namespace, name: obj.metadata.name, subresource });
    return this.request<T>({
      method: 'PATCH',
      path: `${path}?fieldManager=${FIELD_MANAGER}&force=true`,
      body: obj,
      contentType: 'application/apply-patch+yaml',
    });
  }

  async jsonPatch<T = KubeObject>(t: ResourceType, args: PathArgs, ops: unknown[]): Promise<T> {
    return this.request<T>({
      method: 'PATCH',
      path: `${resourcePath(t, args)}?fieldManager=${FIELD_MANAGER}`,
      body: ops,
      contentType: 'application/json-patch+json',
    });
  }

  async create<T = KubeObject>(t: ResourceType, obj: KubeObject): Promise<T> {
    const path = `${resourcePath(t, { namespace: obj.metadata.namespace })}?fieldManager=${FIELD_MANAGER}`;
    return this.request<T>({ method: 'POST', path, body: obj });
  }

  async replace<T = KubeObject>(t: ResourceType, obj: KubeObject): Promise<T> {
    const path = `${resourcePath(t, { namespace: obj.metadata.namespace, name: obj.metadata.name })}?fieldManager=${FIELD_MANAGER}`;
    return this.request<T>({ method: 'PUT', path, body: obj });
  }

  /** Deletes the object; false when it was already gone. */
  async delete(t: ResourceType, args: PathArgs): Promise<boolean> {
    try {
      await this.request({ method: 'DELETE', path: resourcePath(t, args), body: { propagationPolicy: 'Background' } });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  /** Streams watch events until the server ends the watch or `signal` aborts. 410 surfaces as an ERROR event. */
  async watch<T>(t: ResourceType, opts: WatchOptions, onEvent: (e: WatchEvent<T>) => void): Promise<void> {
    const { resourceVersion, namespace, labelSelector, signal } = opts;
    const selector = labelSelector ? `&labelSelector=${encodeURIComponent(labelSelector)}` : '';
    const query = `?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion=${encodeURIComponent(resourceVersion)}${selector}`;
    const path = resourcePath(t, namespace ? { namespace } : {});
    const res = await this.#open({ method: 'GET', path: `${path}${query}`, timeoutMs: 330_000 });
    if ((res.statusCode ?? 0) >= 300) {
      const chunks: Buffer[] = [];
      for await (const c of res) chunks.push(c as Buffer);
      throw toApiError(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8'), { method: 'WATCH', path: t.plural });
    }
    const onAbort = (): void => void res.destroy();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const line of jsonLines(res)) onEvent(JSON.parse(line) as WatchEvent<T>);
    } catch (e) {
      if (!signal.aborted) throw e;
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** Splits a stream into its non-empty lines (a watch sends one JSON event per line). */
async function* jsonLines(stream: AsyncIterable<unknown>): AsyncGenerator<string> {
  let buffered = '';
  for await (const chunk of stream) {
    buffered += (chunk as Buffer).toString('utf8');
    const lines = buffered.split('\n');
    buffered = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) yield line;
  }
  if (buffered.trim()) yield buffered;
}

function toApiError(status: number, text: string, spec: { method: string; path: string }): ApiError {
  try {
    const body = JSON.parse(text) as { reason?: string; message?: string };
    return new ApiError(status, body.reason ?? 'Unknown', `${spec.method} ${spec.path}: ${status} ${body.message ?? text}`);
  } catch {
    return new ApiError(status, 'Unknown', `${spec.method} ${spec.path}: ${status} ${text.slice(0, 200)}`);
  }
}
