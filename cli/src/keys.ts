// `clarus keys generate|rotate|wrap|rewrap|reencrypt`: keyring Secret manifests on stdout. With
// --vault-address the keys are data keys wrapped by a Vault transit key (provider vaultTransit):
// Vault generates them and returns only the wrapped form, so no plaintext key reaches this process.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { buildKeyring, checkKeyNames, generateKeyring, generationEntries, rotateKeyring, rotationEntries, withMaterial } from '@clarus/policy/keys/keyring.ts';
import { keyringForm, parseKeyring } from '@clarus/policy/runtime/keyring.ts';
import type { SecretManifest } from '@clarus/crds/types.ts';
import type { VaultTransit } from '@clarus/sidecar/io/vault.ts';
import { many, one, parseArgs, processIo, type Io, type ParsedArgs } from './args.ts';

const VAULT_HELP = `  Vault options (provider vaultTransit; the usual VAULT_* variables are the defaults):
      --vault-address URL (VAULT_ADDR)   --vault-key TRANSIT_KEY   --vault-mount PATH (default transit)
      --vault-token-file FILE (else VAULT_TOKEN)   --vault-ca-file PEM (VAULT_CACERT)
`;

const USAGE = `usage:
  clarus keys generate --name NAME [--namespace NS] [--key KEYNAME…] [Vault options]
      prints a keyring Secret with fresh 256-bit master keys: default plus each named key; with
      Vault options, data keys Vault generated, wrapped by the transit key (Vault keeps the plaintext)
  clarus keys rotate -f SECRET.yaml [--key KEYNAME…] [Vault options for a wrapped keyring]
      prints the keyring with a new version of each named key (all keys when none is named);
      old versions stay so existing ciphertexts keep decrypting
  clarus keys wrap -f SECRET.yaml Vault options
      prints the keyring with each plaintext key wrapped by the transit key (moving to vaultTransit:
      the keys stay the same, so no row is re-encrypted)
  clarus keys rewrap -f SECRET.yaml [--rotate-transit-key] Vault options
      prints the keyring with every data key rewrapped by the transit key's latest version (after
      rotating the transit key with --rotate-transit-key); the data keys stay the same, no row changes
  clarus keys reencrypt --config DIR --url postgres://USER:PW@PROXY:PORT/DB [--dataset NAME…] [--batch N] [--state FILE]
      rewrites the rows of encrypted datasets through the proxy with the current key versions
      (resumable with --state; see docs/key-rotation.md)
${VAULT_HELP}`;

const VAULT_OPTIONS = ['--vault-address', '--vault-key', '--vault-mount', '--vault-token-file', '--vault-ca-file'];

/** The transit client the Vault options name; undefined without --vault-address/VAULT_ADDR; a string is a usage error. */
async function vaultOf(args: ParsedArgs, env: NodeJS.ProcessEnv): Promise<VaultTransit | string | undefined> {
  const address = one(args, '--vault-address') ?? env.VAULT_ADDR;
  if (!address) return undefined;
  const key = one(args, '--vault-key');
  if (!key) return '--vault-key (the transit key that wraps the data keys) is required with a Vault address';
  const tokenFile = one(args, '--vault-token-file');
  const token = tokenFile ? (await readFile(tokenFile, 'utf8')).trim() : env.VAULT_TOKEN;
  if (!token) return 'a Vault token is needed: --vault-token-file FILE or VAULT_TOKEN';
  const caFile = one(args, '--vault-ca-file') ?? env.VAULT_CACERT;
  const ca = caFile ? await readFile(caFile, 'utf8') : undefined;
  const { VaultTransit } = await import('@clarus/sidecar/io/vault.ts');
  return new VaultTransit({ address, key, mount: one(args, '--vault-mount') ?? 'transit', login: { method: 'token', token: () => token }, ...(ca ? { ca } : {}) });
}

async function generate(argv: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const args = parseArgs(argv, ['--name', '--namespace', '-n', '--key', ...VAULT_OPTIONS]);
  if (typeof args === 'string') return usageError(io, args);
  const name = one(args, '--name');
  if (!name || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) return usageError(io, '--name must be a valid Secret name');
  const keys = many(args, '--key');
  const bad = checkKeyNames(keys);
  if (bad) return usageError(io, bad);
  const vault = await vaultOf(args, env);
  if (typeof vault === 'string') return usageError(io, vault);
  const ns = one(args, '--namespace', '-n');
  if (!vault) {
    io.out(stringify(generateKeyring(name, ns, keys, randomBytes)));
    return 0;
  }
  const material = new Map<string, string>();
  for (const entry of generationEntries(keys)) material.set(entry, await vault.newWrappedKey());
  io.out(stringify(buildKeyring(name, ns, material)));
  return 0;
}

async function readKeyring(file: string, io: Io): Promise<SecretManifest | undefined> {
  const doc = parse(await readFile(file, 'utf8')) as SecretManifest | null;
  if (doc?.kind === 'Secret' && typeof doc.metadata?.name === 'string') return doc;
  io.err(`${file}: not a Secret manifest\n`);
  return undefined;
}

function print(io: Io, file: string, out: SecretManifest | string): number {
  if (typeof out === 'string') {
    io.err(`${file}: not a keyring: ${out}\n`);
    return 1;
  }
  io.out(stringify(out));
  return 0;
}

/** Parses `-f FILE` plus the given options and reads the keyring; a number is the exit status. */
async function withKeyring(argv: string[], io: Io, extra: string[]): Promise<{ args: ParsedArgs; file: string; doc: SecretManifest } | number> {
  const args = parseArgs(argv, ['-f', '--filename', ...extra]);
  if (typeof args === 'string') return usageError(io, args);
  const file = one(args, '-f', '--filename');
  if (!file) return usageError(io, '-f SECRET.yaml is required');
  const doc = await readKeyring(file, io);
  return doc ? { args, file, doc } : 1;
}

async function rotate(argv: string[], io: Io, env: NodeJS.ProcessEnv): Promise<number> {
  const r = await withKeyring(argv, io, ['--key', ...VAULT_OPTIONS]);
  if (typeof r === 'number') return r;
  const keys = many(r.args, '--key');
  const bad = checkKeyNames(keys);
  if (bad) return usageError(io, bad);
  if (keyringForm(r.doc) !== 'wrapped') return print(io, r.file, rotateKeyring(r.doc, keys, randomBytes));
  const vault = await vaultOf(r.args, env);
  if (typeof vault === 'string') return usageError(io, vault);
  if (!vault) return usageError(io, `${r.file} holds keys wrapped by Vault transit: the new versions come from Vault (--vault-address, --vault-key)`);
  const entries = rotationEntries(r.doc, keys, true);
  if (typeof entries === 'string') return print(io, r.file, entries);
  const material = new Map<string, string>();
  for (const entry of entries) material.set(entry, await vault.newWrappedKey());
  return print(io, r.file, withMaterial(r.doc, material, true, true));
}

/** Why the keyring cannot be wrapped (it is already) or rewrapped (it is not wrapped). */
function formError(doc: Parameters<typeof keyringForm>[0], mode: 'wrap' | 'rewrap'): string | undefined {
  const expected = mode === 'wrap' ? 'plain' : 'wrapped';
  const form = keyringForm(doc);
  return form === expected ? undefined : `${mode} needs a keyring of ${expected} keys; this one is ${form}`;
}

/** Each entry's key wrapped by Vault (wrap: from its plaintext; rewrap: from its wrapped text). */
async function wrapped(entries: Map<string, string>, vault: NonNullable<Exclude<Awaited<ReturnType<typeof vaultOf>>, string>>, mode: 'wrap' | 'rewrap'): Promise<Map<string, string>> {
  const material = new Map<string, string>();
  for (const [entry, text] of entries) {
    material.set(entry, mode === 'wrap' ? await vault.wrap(Buffer.from(text, 'base64')) : await vault.rewrap(text));
  }
  return material;
}

/** wrap: plaintext keyring → wrapped; rewrap: wrapped → wrapped with the transit key's latest version. */
async function rewrapOrWrap(argv: string[], io: Io, env: NodeJS.ProcessEnv, mode: 'wrap' | 'rewrap'): Promise<number> {
  const r = await withKeyring(argv, io, VAULT_OPTIONS);
  if (typeof r === 'number') return r;
  const vault = await vaultOf(r.args, env);
  if (typeof vault === 'string' || !vault) return usageError(io, vault ?? `${mode} needs Vault options (--vault-address, --vault-key)`);
  const wrongForm = formError(r.doc, mode);
  if (wrongForm) return print(io, r.file, wrongForm);
  const kr = parseKeyring(r.doc, mode === 'rewrap');
  if (kr.errors.length > 0) return print(io, r.file, kr.errors.map((e) => `${e.key}: ${e.message}`).join('; '));
  if (mode === 'rewrap' && r.args.flags.has('--rotate-transit-key')) await vault.rotateTransitKey();
  const material = await wrapped(kr.material, vault, mode);
  if (mode === 'rewrap') return print(io, r.file, withMaterial(r.doc, material, true, false));
  // The same entries, now wrapped; the current versions (annotation) stay.
  const { data: _plain, ...rest } = r.doc;
  return print(io, r.file, withMaterial({ ...rest, stringData: Object.fromEntries(material) }, new Map(), true, false));
}

function usageError(io: Io, message: string): number {
  io.err(`clarus keys: ${message}\n\n${USAGE}`);
  return 2;
}

/** The subcommands that may call Vault; undefined for the others. */
function vaultCommand(sub: string | undefined): ((rest: string[], io: Io, env: NodeJS.ProcessEnv) => Promise<number>) | undefined {
  if (sub === 'generate') return generate;
  if (sub === 'rotate') return rotate;
  if (sub === 'wrap' || sub === 'rewrap') return (rest, io, env) => rewrapOrWrap(rest, io, env, sub);
  return undefined;
}

export async function main(argv: string[], io: Io = processIo, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [sub, ...rest] = argv;
  const command = vaultCommand(sub);
  if (command) {
    try {
      return await command(rest, io, env);
    } catch (e) {
      if ((e as Error).name !== 'VaultError') throw e;
      io.err(`clarus keys ${sub}: Vault: ${(e as Error).message}\n`);
      return 1;
    }
  }
  // Runs through a proxy with the sidecar's client; loaded only when asked for.
  if (sub === 'reencrypt') return (await import('@clarus/sidecar/access/reencrypt.ts')).main(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return 0;
  }
  return usageError(io, `unknown subcommand ${sub}`);
}
