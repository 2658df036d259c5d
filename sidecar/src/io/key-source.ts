// Where the proxy's master keys come from. Provider `secret`: the files of secrets/keyring/ hold them.
// Provider `vaultTransit`: those files hold data keys wrapped by a Vault transit key; this unwraps them
// into memory (never to disk) at start and at each reload, asks Vault again every refreshSeconds, and
// keeps using what it has while Vault cannot be reached, for at most maxUnreachableSeconds after
// Vault last answered. Past that bound, or as soon as Vault refuses a key (revoked token or policy,
// key below min_decryption_version), the keys are dropped: encryption and decryption fail closed
// and /readyz reports not ready until Vault unwraps them again.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Gauge, Counter } from 'prom-client';
import type { Registry } from 'prom-client';
import type { RuntimeConfig, RuntimeVaultTransit } from '@clarus/policy/runtime/config.ts';
import type { Logger } from '@clarus/log/logger.ts';
import { KeyringError } from '../protection/encryption/keyring.ts';
import { tokenFile, VaultError, VaultTransit } from './vault.ts';

/** Entry file name → text: base64 of a plaintext key, or the wrapped key (vault:v<N>:…). */
function readKeyDir(configDir: string, config: RuntimeConfig): Map<string, string> {
  const dir = join(configDir, config.policy.keyring.dir);
  const files = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return files;
  }
  for (const n of names) if (/\.v\d+$/.test(n)) files.set(n, readFileSync(join(dir, n), 'utf8').trim());
  return files;
}

/** Identity of a transit setup: keys unwrapped under one are not reused under another. */
const identity = (v: RuntimeVaultTransit): string => JSON.stringify([v.address, v.mount, v.key, v.caFile ?? '', v.auth]);

function clientFor(configDir: string, v: RuntimeVaultTransit): VaultTransit {
  const ca = v.caFile ? readFileSync(join(configDir, v.caFile), 'utf8') : undefined;
  const read = tokenFile(join(configDir, v.auth.tokenFile));
  const login = v.auth.method === 'kubernetes' ? { method: 'kubernetes' as const, mount: v.auth.mount, role: v.auth.role, jwt: read } : { method: 'token' as const, token: read };
  return new VaultTransit({ address: v.address, mount: v.mount, key: v.key, login, ...(ca ? { ca } : {}) });
}

interface Transit {
  id: string;
  spec: RuntimeVaultTransit;
  client: VaultTransit;
  /** Wrapped text → base64 of the plaintext key. Memory only. */
  plain: Map<string, string>;
  /** The wrapped entries of the configuration in force (commit), by file name. */
  wanted: Map<string, string>;
  lastSuccess: number | undefined;
  /** Set while Vault cannot be reached: when the first attempt failed. */
  failingSince: number | undefined;
  lastError: string | undefined;
  /** Wanted entries not unwrapped (kept current by unwrap and commit, so the check before each key use is cheap). */
  missing: number;
}

export interface KeyState {
  provider: 'secret' | 'vaultTransit';
  /** Whether encryption may use the keys now. */
  usable: boolean;
  reason?: string;
  /** Seconds since Vault last answered, while it cannot be reached. */
  unreachableSeconds?: number;
  maxUnreachableSeconds?: number;
}

export class KeySource {
  private transit: Transit | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private requests: Counter | undefined;

  constructor(opts: { log?: Logger; now?: () => number } = {}) {
    this.log = opts.log;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Unwraps the entries of `config` not in memory yet (start, reload). Never throws on a Vault
   * failure: what is missing stays missing, and the configuration check of the reload fails on it.
   * The keys of the configuration in force are not touched until commit(). Returns false when Vault
   * could not be reached before every key was asked for (the caller may try again later).
   */
  async prepare(configDir: string, config: RuntimeConfig): Promise<boolean> {
    const spec = config.policy.keyring.vaultTransit;
    if (!spec) return true;
    const id = identity(spec);
    if (this.transit?.id !== id) {
      if (this.transit) this.drop(this.transit, 'Vault settings changed');
      this.transit = { id, spec, client: clientFor(configDir, spec), plain: new Map(), wanted: new Map(), lastSuccess: undefined, failingSince: undefined, lastError: undefined, missing: 0 };
    }
    return this.unwrap(this.transit, [...readKeyDir(configDir, config).values()], false);
  }

  /** The configuration now in force: its keys are the ones refreshed, counted and required. */
  commit(configDir: string, config: RuntimeConfig): void {
    const spec = config.policy.keyring.vaultTransit;
    if (!spec || this.transit?.id !== identity(spec)) {
      if (this.transit) this.drop(this.transit, spec ? 'Vault settings changed' : 'the keyring no longer uses Vault');
      if (!spec) this.transit = undefined;
      this.schedule();
      return;
    }
    const t = this.transit;
    t.spec = spec;
    t.wanted = readKeyDir(configDir, config);
    const wanted = new Set(t.wanted.values());
    for (const w of [...t.plain.keys()]) if (!wanted.has(w)) t.plain.delete(w);
    t.missing = [...wanted].filter((w) => !t.plain.has(w)).length;
    this.schedule();
  }

  /** Key texts (base64 of the plaintext) by file name, for the keyring parser; throws KeyringError when a key is not available. */
  files(configDir: string, config: RuntimeConfig): Map<string, string> {
    const files = readKeyDir(configDir, config);
    if (!config.policy.keyring.vaultTransit) return files;
    const t = this.transit;
    const reason = this.unusable();
    if (!t || t.id !== identity(config.policy.keyring.vaultTransit) || reason) {
      throw new KeyringError(`the keyring's data keys are not unwrapped: ${reason ?? 'Vault has not been asked yet'}`);
    }
    const out = new Map<string, string>();
    for (const [name, wrapped] of files) {
      const p = t.plain.get(wrapped);
      if (p !== undefined) out.set(name, p);
    }
    return out;
  }

  /** Why the keys may not be used now (undefined: they may). Checked before every use of a key. */
  unusable(): string | undefined {
    const t = this.transit;
    if (!t) return undefined;
    if (t.lastSuccess === undefined) return `Vault has not unwrapped the keys yet${t.lastError ? ` (${t.lastError})` : ''}`;
    if (t.missing > 0) return `${t.missing} data key(s) not unwrapped${t.lastError ? ` (${t.lastError})` : ''}`;
    const silent = (this.now() - t.lastSuccess) / 1000;
    if (t.failingSince !== undefined && silent > t.spec.maxUnreachableSeconds) {
      this.drop(t, `Vault unreachable for ${Math.round(silent)} s (bound ${t.spec.maxUnreachableSeconds} s)`);
      return `Vault unreachable for ${Math.round(silent)} s, past maxUnreachableSeconds ${t.spec.maxUnreachableSeconds}`;
    }
    return undefined;
  }

  state(): KeyState {
    const t = this.transit;
    if (!t) return { provider: 'secret', usable: true };
    const reason = this.unusable();
    return {
      provider: 'vaultTransit', usable: reason === undefined, ...(reason ? { reason } : {}),
      maxUnreachableSeconds: t.spec.maxUnreachableSeconds,
      ...(t.failingSince !== undefined ? { unreachableSeconds: Math.round((this.now() - (t.lastSuccess ?? t.failingSince)) / 1000) } : {}),
    };
  }

  /** The clarus_kms_* metrics, computed when scraped. */
  register(registry: Registry): void {
    const registers = [registry];
    const t = () => this.transit;
    const gauge = (name: string, help: string, value: () => number): Gauge => {
      const g: Gauge = new Gauge({ name, help, registers, collect: () => g.set(value()) });
      return g;
    };
    this.requests = new Counter({ name: 'clarus_kms_requests_total', help: 'Unwrap requests to the KMS by result (ok, unreachable, denied)', labelNames: ['result'], registers });
    gauge('clarus_kms_keys_usable', 'Whether the master keys may be used (always 1 with provider secret)', () => (this.unusable() === undefined ? 1 : 0));
    gauge('clarus_kms_unwrapped_keys', 'Data keys unwrapped in memory', () => t()?.plain.size ?? 0);
    gauge('clarus_kms_last_success_timestamp_seconds', 'When the KMS last unwrapped every data key asked for (0: never)', () => (t()?.lastSuccess ?? 0) / 1000);
    gauge('clarus_kms_unreachable_seconds', 'Seconds since the KMS last answered, while it cannot be reached (0 otherwise)', () => this.state().unreachableSeconds ?? 0);
    gauge('clarus_kms_max_unreachable_seconds', 'How long the proxy keeps using its keys while the KMS cannot be reached', () => t()?.spec.maxUnreachableSeconds ?? 0);
  }

  close(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.transit) this.drop(this.transit, 'closed');
    this.transit = undefined;
  }

  /** Asks Vault for `entries` (`again`: those in memory too, to learn of a revocation). */
  private async unwrap(t: Transit, entries: string[], again: boolean): Promise<boolean> {
    let unreachable: VaultError | undefined;
    for (const wrapped of new Set(entries)) {
      if (!again && t.plain.has(wrapped)) continue;
      unreachable = await this.unwrapOne(t, wrapped);
      if (unreachable) break;
    }
    t.missing = [...new Set(t.wanted.values())].filter((w) => !t.plain.has(w)).length;
    if (unreachable) return this.unreachable(t, unreachable);
    if (t.failingSince !== undefined || t.lastSuccess === undefined) this.log?.info('KMS answered; data keys unwrapped', { keys: t.plain.size });
    t.failingSince = undefined;
    t.lastSuccess = this.now();
    if (t.missing === 0) t.lastError = undefined;
    return true;
  }

  /** Vault could not be reached: keep serving with the keys in memory, and note since when. */
  private unreachable(t: Transit, e: VaultError): false {
    if (t.failingSince === undefined) this.log?.warn('KMS unreachable; serving with the keys in memory', { error: e.message, maxUnreachableSeconds: t.spec.maxUnreachableSeconds });
    t.failingSince ??= this.now();
    return false;
  }

  /** One unwrap; returns the error when Vault cannot be reached (the caller stops asking). */
  private async unwrapOne(t: Transit, wrapped: string): Promise<VaultError | undefined> {
    try {
      const plain = await t.client.unwrap(wrapped);
      if (plain.length !== 32) throw new VaultError('denied', `unwrap gave ${plain.length} bytes, not a 256-bit key`);
      t.plain.set(wrapped, plain.toString('base64'));
      plain.fill(0);
      this.requests?.inc({ result: 'ok' });
      return undefined;
    } catch (e) {
      if (!(e instanceof VaultError)) throw e;
      this.requests?.inc({ result: e.kind });
      t.lastError = e.message;
      if (e.kind === 'unreachable') return e;
      // Vault said no: this key may not be used any more.
      t.plain.delete(wrapped);
      this.log?.error('KMS refused a data key; it is not used', { error: e.message });
      return undefined;
    }
  }

  private drop(t: Transit, why: string): void {
    t.missing = new Set(t.wanted.values()).size;
    if (t.plain.size === 0) return;
    t.plain.clear();
    this.log?.error('data keys dropped from memory', { reason: why });
  }

  /** Next check: every refreshSeconds; every 2 s while keys are missing (start, Vault back after an outage). */
  private schedule(): void {
    clearTimeout(this.timer);
    const t = this.transit;
    if (!t) return;
    const ms = this.unusable() === undefined && t.failingSince === undefined ? t.spec.refreshSeconds * 1000 : Math.min(2000, t.spec.refreshSeconds * 1000);
    this.timer = setTimeout(() => {
      const current = this.transit;
      if (!current) return;
      void this.unwrap(current, [...current.wanted.values()], true).catch((e: unknown) => this.log?.error('KMS refresh failed', { error: e })).finally(() => this.schedule());
    }, ms);
    this.timer.unref();
  }
}

/** Key texts for the keyring parser without a key source (provider secret only). */
export function readPlainKeyFiles(configDir: string, config: RuntimeConfig): Map<string, string> {
  if (config.policy.keyring.vaultTransit) throw new KeyringError('the keyring is wrapped by Vault transit; the proxy needs a key source to unwrap it');
  return readKeyDir(configDir, config);
}
