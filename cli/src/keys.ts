// `clarus keys generate|rotate`: keyring Secret manifests on stdout.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { checkKeyNames, generateKeyring, rotateKeyring } from '@clarus/policy/keys/keyring.ts';
import type { SecretManifest } from '@clarus/crds/types.ts';
import { many, one, parseArgs, processIo, type Io } from './args.ts';

const USAGE = `usage:
  clarus keys generate --name NAME [--namespace NS] [--key KEYNAME…]
      prints a keyring Secret with fresh 256-bit master keys: default plus each named key
  clarus keys rotate -f SECRET.yaml [--key KEYNAME…]
      prints the keyring with a new version of each named key (all keys when none is named);
      old versions stay so existing ciphertexts keep decrypting
  clarus keys reencrypt --config DIR --url postgres://USER:PW@PROXY:PORT/DB [--dataset NAME…] [--batch N] [--state FILE]
      rewrites the rows of encrypted datasets through the proxy with the current key versions
      (resumable with --state; see docs/key-rotation.md)
`;

function generate(argv: string[], io: Io): number {
  const args = parseArgs(argv, ['--name', '--namespace', '-n', '--key']);
  if (typeof args === 'string') return usageError(io, args);
  const name = one(args, '--name');
  if (!name || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(name)) return usageError(io, '--name must be a valid Secret name');
  const keys = many(args, '--key');
  const bad = checkKeyNames(keys);
  if (bad) return usageError(io, bad);
  io.out(stringify(generateKeyring(name, one(args, '--namespace', '-n'), keys, randomBytes)));
  return 0;
}

async function rotate(argv: string[], io: Io): Promise<number> {
  const args = parseArgs(argv, ['-f', '--filename', '--key']);
  if (typeof args === 'string') return usageError(io, args);
  const file = one(args, '-f', '--filename');
  if (!file) return usageError(io, '-f SECRET.yaml is required');
  const keys = many(args, '--key');
  const bad = checkKeyNames(keys);
  if (bad) return usageError(io, bad);
  const doc = parse(await readFile(file, 'utf8')) as SecretManifest | null;
  if (doc?.kind !== 'Secret' || typeof doc.metadata?.name !== 'string') {
    io.err(`${file}: not a Secret manifest\n`);
    return 1;
  }
  const rotated = rotateKeyring(doc, keys, randomBytes);
  if (typeof rotated === 'string') {
    io.err(`${file}: not a keyring: ${rotated}\n`);
    return 1;
  }
  io.out(stringify(rotated));
  return 0;
}

function usageError(io: Io, message: string): number {
  io.err(`clarus keys: ${message}\n\n${USAGE}`);
  return 2;
}

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'generate') return generate(rest, io);
  if (sub === 'rotate') return rotate(rest, io);
  // Runs through a proxy with the sidecar's client; loaded only when asked for.
  if (sub === 'reencrypt') return (await import('@clarus/sidecar/access/reencrypt.ts')).main(rest, io);
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(USAGE);
    return 0;
  }
  return usageError(io, `unknown subcommand ${sub}`);
}
