// render() with the vaultTransit key provider: the runtime config names the transit key and how to log
// in, the rendered files hold only the wrapped keys (and the token or CA), a plaintext keyring is
// refused, Vault over plain http is refused off loopback, and the SCRAM salts stay deterministic.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT } from '@clarus/crds/generate.ts';
import type { SecretManifest, SecurityPolicy } from '@clarus/crds/types.ts';
import { loadManifests } from '@clarus/cli/io/load.ts';
import { validateManifests } from '../validate/index.ts';
import { render, RenderError, type RenderInput } from './render.ts';
import { proxiesOf, selectForProxy } from './select.ts';

const WRAPPED = { 'default.v1': 'vault:v1:c2VjcmV0LWRlZmF1bHQta2V5LXdyYXBwZWQ=', 'clinical.v1': 'vault:v1:Y2xpbmljYWwta2V5LXdyYXBwZWQ=' };

async function ehealth(): Promise<RenderInput> {
  const { set } = validateManifests((await loadManifests([join(REPO_ROOT, 'examples', 'ehealth')])).docs);
  const p = proxiesOf(set).find((x) => x.metadata.name === 'ehealth-proxy');
  if (!p) throw new Error('no proxy');
  const input = selectForProxy(set, p);
  if ('resource' in input) throw new Error(input.message);
  return input;
}

function withVault(input: RenderInput, keyring: SecurityPolicy['spec']['keyring'], entries: Record<string, string> = WRAPPED, extra: SecretManifest[] = []): RenderInput {
  const policy = { ...input.policy, spec: { ...input.policy.spec, keyring } };
  const secrets = input.secrets.map((s) => (s.metadata.name === 'ehealth-keys' ? { ...s, data: {}, stringData: entries } : s));
  return { ...input, policy, secrets: [...secrets, ...extra] };
}

const tokenSecret: SecretManifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vault-token', namespace: 'hospital' }, stringData: { token: 'hvs.test-token' } };
const caSecret: SecretManifest = { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'vault-ca', namespace: 'hospital' }, stringData: { 'ca.crt': '-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n' } };

function issues(f: () => unknown): string[] {
  try {
    f();
    return [];
  } catch (e) {
    if (!(e instanceof RenderError)) throw e;
    return e.issues.map((i) => `${i.resource} ${i.path}: ${i.message}`);
  }
}

describe('render with provider vaultTransit', () => {
  it('carries the transit key and kubernetes auth into the runtime config, and renders only wrapped keys', async () => {
    const out = render(withVault(await ehealth(), { secretName: 'ehealth-keys', provider: 'vaultTransit',
      vaultTransit: { address: 'https://vault.vault.svc:8200/', key: 'clarus', caSecretRef: { name: 'vault-ca' }, auth: { kubernetes: { role: 'clarus-proxy', audience: 'vault' } } } }, WRAPPED, [caSecret]));
    expect(out.config.policy.keyring.vaultTransit).toEqual({
      address: 'https://vault.vault.svc:8200', mount: 'transit', key: 'clarus', caFile: 'secrets/vault/ca.crt',
      auth: { method: 'kubernetes', mount: 'kubernetes', role: 'clarus-proxy', tokenFile: 'secrets/vault/sa-token', audience: 'vault' },
      maxUnreachableSeconds: 300, refreshSeconds: 60,
    });
    const files = Object.fromEntries(out.files.map((f) => [f.path, f.content]));
    expect(files['secrets/keyring/default.v1']).toBe(WRAPPED['default.v1']);
    expect(files['secrets/keyring/clinical.v1']).toBe(WRAPPED['clinical.v1']);
    expect(files['secrets/vault/ca.crt']).toContain('BEGIN CERTIFICATE');
    // The service-account token is projected by the kubelet, never rendered.
    expect(Object.keys(files).filter((p) => p.startsWith('secrets/vault/'))).toEqual(['secrets/vault/ca.crt']);
  });

  it('renders the token file of token auth, and salts keyed by the wrapped key (deterministic, and changing with it)', async () => {
    const keyring = { secretName: 'ehealth-keys', provider: 'vaultTransit' as const,
      vaultTransit: { address: 'http://127.0.0.1:8200', key: 'clarus', auth: { tokenSecretRef: { name: 'vault-token' } } } };
    const a = render(withVault(await ehealth(), keyring, WRAPPED, [tokenSecret]));
    const again = render(withVault(await ehealth(), keyring, WRAPPED, [tokenSecret]));
    const rewrapped = render(withVault(await ehealth(), keyring, { ...WRAPPED, 'default.v1': 'vault:v2:cmV3cmFwcGVkLWRlZmF1bHQ=' }, [tokenSecret]));
    const verifier = (o: typeof a) => o.files.find((f) => f.path === 'secrets/users/drhouse.scram')?.content;
    expect(a.config.policy.keyring.vaultTransit?.auth).toEqual({ method: 'token', tokenFile: 'secrets/vault/token' });
    expect(a.files.find((f) => f.path === 'secrets/vault/token')?.content).toBe('hvs.test-token');
    expect(verifier(a)).toMatch(/^SCRAM-SHA-256\$/);
    expect(verifier(again)).toBe(verifier(a));
    expect(a.config.hash).toBe(again.config.hash);
    expect(verifier(rewrapped)).not.toBe(verifier(a));
  });

  it('refuses plaintext keys under vaultTransit, wrapped keys under secret, and http off loopback', async () => {
    const vault = { address: 'http://vault.example:8200', key: 'clarus', auth: { tokenSecretRef: { name: 'vault-token' } } };
    const input = await ehealth();
    const plainKeys = Object.fromEntries(Object.keys(WRAPPED).map((k) => [k, Buffer.alloc(32, 7).toString('base64')]));
    const both = issues(() => render(withVault(input, { secretName: 'ehealth-keys', provider: 'vaultTransit', vaultTransit: vault }, plainKeys, [tokenSecret]))).join('\n');
    expect(both).toMatch(/data\.clinical\.v1: holds a plaintext key, but the policy's keyring provider is vaultTransit/);
    expect(both).toMatch(/vaultTransit\.address: Vault must be reached over https/);
    expect(issues(() => render(withVault(input, { secretName: 'ehealth-keys' }, WRAPPED))).join('\n'))
      .toMatch(/data\.clinical\.v1: holds a key wrapped by Vault transit; set the policy's spec\.keyring\.provider to vaultTransit/);
    expect(issues(() => render(withVault(input, { secretName: 'ehealth-keys', provider: 'vaultTransit', vaultTransit: { ...vault, address: 'http://127.0.0.1:8200' } }, WRAPPED))).join('\n'))
      .toMatch(/spec\.keyring\.vaultTransit\.auth\.tokenSecretRef: Secret vault-token not found/);
  });
});
