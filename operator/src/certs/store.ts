// Keeps the webhook's CA and serving certificate in a Secret, re-issues them before expiry, and
// writes the CA bundle into the MutatingWebhookConfiguration so the API server trusts the webhook.
import { Buffer } from 'node:buffer';
import type { SecretManifest } from '@clarus/crds';
import { isConflict } from '../kube/client.ts';
import type { KubeClient } from '../kube/client.ts';
import { Resources } from '../kube/resources.ts';
import type { Logger } from '../log.ts';
import type { KubeObject } from '../specs/types.ts';
import type { KeyPair } from './generate.ts';
import { generateCA, generateServing, inspect, rotationNeeded } from './generate.ts';

export interface CertStoreOptions {
  namespace: string;
  secretName: string;
  webhookConfigName?: string;
  dnsNames: string[];
  ipAddresses: string[];
  caValidDays: number;
  servingValidDays: number;
  renewBeforeDays: number;
}

interface Material { ca?: KeyPair; serving?: KeyPair; previousCaPem?: string }

const b64 = (s: string): string => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string | undefined): string | undefined => (s === undefined ? undefined : Buffer.from(s, 'base64').toString('utf8'));

export function readMaterial(secret: SecretManifest | undefined): Material {
  const d = secret?.data ?? {};
  const pair = (c: string, k: string): KeyPair | undefined => {
    const certPem = unb64(d[c]);
    const keyPem = unb64(d[k]);
    return certPem && keyPem ? { certPem, keyPem } : undefined;
  };
  return { ca: pair('ca.crt', 'ca.key'), serving: pair('tls.crt', 'tls.key'), previousCaPem: unb64(d['ca-previous.crt']) };
}

/** CA bundle the API server trusts: the current CA, plus the previous one while it is still valid. */
export function caBundle(m: Material, now: Date): string {
  const current = m.ca?.certPem ?? '';
  const prev = m.previousCaPem;
  if (!prev || prev === current || inspect(prev).notAfter.getTime() <= now.getTime()) return current;
  return `${current}${prev}`;
}

/** The Secret's data: CA, serving pair, the bundle webhooks trust, and the previous CA while it is still trusted. */
function secretData(m: Material, now: Date): Record<string, string> {
  const data: Record<string, string> = {
    'ca.crt': b64(m.ca?.certPem ?? ''), 'ca.key': b64(m.ca?.keyPem ?? ''),
    'tls.crt': b64(m.serving?.certPem ?? ''), 'tls.key': b64(m.serving?.keyPem ?? ''),
    'ca-bundle.crt': b64(caBundle(m, now)),
  };
  if (m.previousCaPem) data['ca-previous.crt'] = b64(m.previousCaPem);
  return data;
}

export class CertStore implements CertSource {
  readonly #client: KubeClient;
  readonly #opts: CertStoreOptions;
  readonly #log: Logger;

  constructor(client: KubeClient, opts: CertStoreOptions, log: Logger) {
    this.#client = client;
    this.#opts = opts;
    this.#log = log.child({ component: 'certs' });
  }

  /** Returns the current serving pair, issuing or rotating it first when needed. */
  async ensure(now = new Date()): Promise<KeyPair> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const secret = await this.#client.get<SecretManifest & KubeObject>(Resources.Secret, { namespace: this.#opts.namespace, name: this.#opts.secretName });
      const material = readMaterial(secret);
      const need = rotationNeeded(material, this.#opts, now, { renewBeforeDays: this.#opts.renewBeforeDays });
      const next = need === 'none' ? material : this.#issue(material, need, now);
      // Another replica may have written first (409): read again and use theirs.
      if (need !== 'none' && !(await this.#tryWrite(secret, next, now))) continue;
      if (need !== 'none') this.#log.info('webhook certificate issued', { scope: need });
      await this.#patchCaBundle(caBundle(next, now));
      return next.serving as KeyPair;
    }
    throw new Error('could not store the webhook certificate after 5 attempts');
  }

  async #tryWrite(existing: (SecretManifest & KubeObject) | undefined, m: Material, now: Date): Promise<boolean> {
    try {
      await this.#write(existing, m, now);
      return true;
    } catch (e) {
      if (isConflict(e)) return false;
      throw e;
    }
  }

  #issue(m: Material, scope: 'serving' | 'all', now: Date): Material {
    const o = this.#opts;
    const ca = scope === 'all' || !m.ca ? generateCA('clarus-webhook-ca', now, o.caValidDays) : m.ca;
    const serving = generateServing(ca, { dnsNames: o.dnsNames, ipAddresses: o.ipAddresses, now, validDays: o.servingValidDays });
    const previousCaPem = scope === 'all' && m.ca ? m.ca.certPem : m.previousCaPem;
    return { ca, serving, previousCaPem };
  }

  async #write(existing: (SecretManifest & KubeObject) | undefined, m: Material, now: Date): Promise<void> {
    const data = secretData(m, now);
    const metadata = { name: this.#opts.secretName, namespace: this.#opts.namespace, labels: { 'app.kubernetes.io/managed-by': 'clarus-operator' } };
    if (!existing) {
      await this.#client.create(Resources.Secret, { apiVersion: 'v1', kind: 'Secret', metadata, type: 'kubernetes.io/tls', data });
      return;
    }
    // PUT with the resourceVersion we read: a concurrent rotation by another replica fails with 409.
    await this.#client.replace(Resources.Secret, { ...existing, apiVersion: 'v1', kind: 'Secret', data });
  }

  async #patchCaBundle(bundle: string): Promise<void> {
    const name = this.#opts.webhookConfigName;
    if (!name) return;
    const config = await this.#client.get<KubeObject & { webhooks?: Array<{ name: string; clientConfig?: { caBundle?: string } }> }>(
      Resources.MutatingWebhookConfiguration, { name });
    if (!config) {
      this.#log.warn('MutatingWebhookConfiguration not found; caBundle not written', { name });
      return;
    }
    const encoded = b64(bundle);
    const ops = (config.webhooks ?? []).flatMap((w, i) => (w.clientConfig?.caBundle === encoded ? [] : [
      { op: 'test', path: `/webhooks/${i}/name`, value: w.name },
      { op: 'add', path: `/webhooks/${i}/clientConfig/caBundle`, value: encoded },
    ]));
    if (ops.length === 0) return;
    await this.#client.jsonPatch(Resources.MutatingWebhookConfiguration, { name }, ops);
    this.#log.info('caBundle written', { name });
  }
}

/** Where the webhook's serving certificate comes from. */
export interface CertSource { ensure(now?: Date): Promise<KeyPair> }

/** cert-manager mode: the Secret is maintained elsewhere; only read tls.crt and tls.key. */
export class SecretCertSource implements CertSource {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #name: string;

  constructor(client: KubeClient, namespace: string, name: string) {
    this.#client = client;
    this.#namespace = namespace;
    this.#name = name;
  }

  async ensure(): Promise<KeyPair> {
    const secret = await this.#client.get<SecretManifest & KubeObject>(Resources.Secret, { namespace: this.#namespace, name: this.#name });
    const serving = readMaterial(secret).serving ?? pairFrom(secret);
    if (!serving) throw new Error(`Secret ${this.#namespace}/${this.#name} has no tls.crt and tls.key yet`);
    return serving;
  }
}

function pairFrom(secret: SecretManifest | undefined): KeyPair | undefined {
  const certPem = unb64(secret?.data?.['tls.crt']);
  const keyPem = unb64(secret?.data?.['tls.key']);
  return certPem && keyPem ? { certPem, keyPem } : undefined;
}
