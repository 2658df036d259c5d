// Compact ciphertext header (8 bytes), also authenticated as associated data:
//   byte 0      format version (1)
//   byte 1      mode: 1 = randomized (AES-256-GCM), 2 = deterministic (AES-SIV)
//   bytes 2..5  key-name id (uint32 BE, see keyNameId)
//   bytes 6..7  master key version (uint16 BE)
import { createHash } from 'node:crypto';

export const FORMAT_VERSION = 1;
export const HEADER_BYTES = 8;
export const MODE_CODE = { randomized: 1, deterministic: 2 } as const;
export type ModeName = keyof typeof MODE_CODE;

export interface Header {
  mode: ModeName;
  keyId: number;
  version: number;
}

export class CiphertextError extends Error {}

export function encodeHeader(h: Header): Buffer {
  const b = Buffer.alloc(HEADER_BYTES);
  b[0] = FORMAT_VERSION;
  b[1] = MODE_CODE[h.mode];
  b.writeUInt32BE(h.keyId, 2);
  b.writeUInt16BE(h.version, 6);
  return b;
}

export function decodeHeader(b: Uint8Array): Header {
  if (b.length < HEADER_BYTES) throw new CiphertextError('ciphertext shorter than its header');
  if (b[0] !== FORMAT_VERSION) throw new CiphertextError(`unknown ciphertext format ${b[0]}`);
  const mode: ModeName | null = b[1] === 1 ? 'randomized' : b[1] === 2 ? 'deterministic' : null;
  if (!mode) throw new CiphertextError(`unknown ciphertext mode ${b[1]}`);
  // Read by hand: a Buffer view per stored value costs more than these shifts.
  const keyId = (((b[2] as number) << 24) | ((b[3] as number) << 16) | ((b[4] as number) << 8) | (b[5] as number)) >>> 0;
  return { mode, keyId, version: ((b[6] as number) << 8) | (b[7] as number) };
}

/** The 32-bit id a header carries instead of the key name (first 4 bytes of SHA-256(name)). */
export function keyNameId(name: string): number {
  return createHash('sha256').update(name, 'utf8').digest().readUInt32BE(0);
}
