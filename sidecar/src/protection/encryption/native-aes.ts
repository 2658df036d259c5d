// The AES block function of the native module build/native/clarus-aes.node (sidecar/native/aes.c,
// built by scripts/build-native.sh): AES-NI, a few hundred nanoseconds a call where node:crypto's
// Cipheriv.update() costs about 1.2 µs (issue 15, goal 2: a row of two encrypted columns makes three
// or four such calls). cmac.ts uses it when it is loaded and falls back to node:crypto otherwise:
// no module (not built, not x86-64), a processor without AES-NI, or CLARUS_NATIVE_AES=0. Both give
// the same bytes (native-aes.test.ts compares them); the choice is made once per process.
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The module's functions (sidecar/native/aes.c). */
export interface NativeAes {
  /** AES-128 or AES-256 round keys of `key` (16 or 32 bytes) into `roundKeys` (ROUND_KEY_BYTES). */
  expand(key: Uint8Array, roundKeys: Uint8Array): void;
  /** Each 16-byte block of `input` encrypted into `output` (the same length; may be the same buffer). */
  ecb(roundKeys: Uint8Array, input: Uint8Array, output: Uint8Array): void;
  /** The last block of AES-CBC of `input` (whole blocks, at least one) from a zero IV, into `tag`. */
  cbcMac(roundKeys: Uint8Array, input: Uint8Array, tag: Uint8Array): void;
}

export const ROUND_KEY_BYTES = 256;
const MODULE = 'build/native/clarus-aes.node';

/** The module's path: build/native under the first folder above this file that has it (the checkout or the image's /app). */
export function nativeAesPath(from = dirname(fileURLToPath(import.meta.url))): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const p = join(dir, MODULE);
    if (existsSync(p)) return p;
    if (dirname(dir) === dir) return undefined;
  }
}

/** Why the native module is not used (undefined when it is). */
export type NativeAesState = { native: NativeAes; reason?: undefined } | { native: null; reason: string };

/** Loads the module once: CLARUS_NATIVE_AES=0 turns it off. */
export function loadNativeAes(env: NodeJS.ProcessEnv = process.env): NativeAesState {
  if (env.CLARUS_NATIVE_AES === '0') return { native: null, reason: 'turned off (CLARUS_NATIVE_AES=0)' };
  if (process.arch !== 'x64') return { native: null, reason: `no native module for ${process.arch}` };
  const path = nativeAesPath();
  if (!path) return { native: null, reason: `${MODULE} not built (scripts/build-native.sh)` };
  let mod: Partial<NativeAes> & { supported?: boolean };
  try {
    mod = createRequire(import.meta.url)(path) as typeof mod;
  } catch (e) {
    return { native: null, reason: `${path} does not load: ${(e as Error).message}` };
  }
  if (!mod.supported || !mod.expand || !mod.ecb || !mod.cbcMac) return { native: null, reason: 'the processor has no AES instructions' };
  return { native: { expand: mod.expand, ecb: mod.ecb, cbcMac: mod.cbcMac } };
}

/** This process's choice. */
export const NATIVE_AES: NativeAesState = loadNativeAes();

/** Which AES this process uses, and why not the native one (the proxy's start-up log). */
export const AES_IMPLEMENTATION: string = NATIVE_AES.native ? 'AES-NI (build/native/clarus-aes.node)' : `node:crypto (${NATIVE_AES.reason})`;
