// The native module build/native/clarus-aes.node (sidecar/native/aes.c, built by
// scripts/build-native.sh): whole AES-GCM and AES-SIV values with AES-NI and
// PCLMULQDQ, a few hundred nanoseconds a call where node:crypto's Cipheriv.update() alone costs
// about 1.2 µs (issue 15, goal 2: a row of two encrypted columns made three or four such calls).
// gcm.ts and siv.ts use it when it is loaded and their TypeScript over node:crypto (cmac.ts)
// otherwise: no module (not built, not x86-64), a processor without these instructions, or
// CLARUS_NATIVE_AES=0. Both give the same bytes (native-aes.test.ts, gcm.test.ts and siv.test.ts
// compare them with each other, OpenSSL and the RFC vectors); the choice is made once per process.
import { createRequire } from 'node:module';
import { nativeModulePath } from '../../native.ts';

/** The module's functions (sidecar/native/aes.c). */
export interface NativeAes {
  /** AES-128 or AES-256 round keys of `key` (16 or 32 bytes) into `roundKeys` (ROUND_KEY_BYTES). */
  expand(key: Uint8Array, roundKeys: Uint8Array): void;
  /**
   * AES-GCM: `out` = anything[nonceAt] || nonce (12 bytes, in place) || ciphertext || tag, the last
   * two written; `h` = E(0^128). `out` must be nonceAt + 28 + plaintext bytes long.
   */
  gcmSeal(roundKeys: Uint8Array, h: Uint8Array, aad: Uint8Array, out: Uint8Array, nonceAt: number, plaintext: Uint8Array): void;
  /** The inverse: true with the plaintext in `out` (the ciphertext's length) when the tag authenticates, else false and `out` untouched. */
  gcmOpen(roundKeys: Uint8Array, h: Uint8Array, aad: Uint8Array, stored: Uint8Array, nonceAt: number, out: Uint8Array): boolean;
  /**
   * AES-SIV after fixed associated data: `out` = V || ciphertext (16 + plaintext bytes); `state` =
   * D || dbl(D) || K1 || K2 (the S2V state after the associated data, the MAC key's CMAC subkeys).
   */
  sivSeal(macRoundKeys: Uint8Array, ctrRoundKeys: Uint8Array, state: Uint8Array, plaintext: Uint8Array, out: Uint8Array): void;
  /** The inverse: true with the plaintext in `out` (16 bytes shorter) when V authenticates it, else false and `out` zeroed. */
  sivOpen(macRoundKeys: Uint8Array, ctrRoundKeys: Uint8Array, state: Uint8Array, sealed: Uint8Array, out: Uint8Array): boolean;
}

const FUNCTIONS = ['expand', 'gcmSeal', 'gcmOpen', 'sivSeal', 'sivOpen'] as const;

export const ROUND_KEY_BYTES = 256;
const MODULE = 'clarus-aes.node';

/** Why the native module is not used (undefined when it is). */
export type NativeAesState = { native: NativeAes; reason?: undefined } | { native: null; reason: string };

/** Loads the module once: CLARUS_NATIVE_AES=0 turns it off. */
export function loadNativeAes(env: NodeJS.ProcessEnv = process.env): NativeAesState {
  if (env.CLARUS_NATIVE_AES === '0') return { native: null, reason: 'turned off (CLARUS_NATIVE_AES=0)' };
  if (process.arch !== 'x64') return { native: null, reason: `no native module for ${process.arch}` };
  const path = nativeModulePath(MODULE);
  if (!path) return { native: null, reason: `build/native/${MODULE} not built (scripts/build-native.sh)` };
  let mod: Partial<Record<(typeof FUNCTIONS)[number], unknown>> & { supported?: boolean };
  try {
    mod = createRequire(import.meta.url)(path) as typeof mod;
  } catch (e) {
    return { native: null, reason: `${path} does not load: ${(e as Error).message}` };
  }
  if (!mod.supported) return { native: null, reason: 'the processor lacks AES-NI, PCLMULQDQ or SSSE3' };
  const missing = FUNCTIONS.filter((f) => typeof mod[f] !== 'function');
  if (missing.length) return { native: null, reason: `${path} has no ${missing.join(', ')} (rebuild: scripts/build-native.sh)` };
  return { native: mod as NativeAes };
}

/** The round keys of an AES key of 16 or 32 bytes (undefined for another length: node:crypto then). */
export function roundKeysOf(native: NativeAes, key: Uint8Array): Buffer | undefined {
  if (key.length !== 16 && key.length !== 32) return undefined;
  const rk = Buffer.alloc(ROUND_KEY_BYTES);
  native.expand(key, rk);
  return rk;
}

/** This process's choice. */
export const NATIVE_AES: NativeAesState = loadNativeAes();

/** Which AES this process uses, and why not the native one (the proxy's start-up log). */
export const AES_IMPLEMENTATION: string = NATIVE_AES.native ? 'AES-NI (build/native/clarus-aes.node)' : `node:crypto (${NATIVE_AES.reason})`;
