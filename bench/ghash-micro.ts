// Micro-benchmark of GHASH's multiplication y ← y·H, per 16-byte block: the constant-time
// multiplication of sidecar/src/protection/encryption/ghash.ts (integer products of bits spaced
// by 3, Karatsuba) against the bit-serial one it replaced (128 masked steps of a table of H·x^i,
// kept here as the baseline), chained over BLOCKS blocks, in one process, the two alternating,
// median CPU time of ROUNDS rounds. Both must give the same final state. `node bench/ghash-micro.ts`.
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { GhashKey } from '@clarus/sidecar/protection/encryption/ghash.ts';

const BLOCKS = Number(process.env.BLOCKS ?? 200_000);
const ROUNDS = Number(process.env.ROUNDS ?? 9);

/** The replaced multiplication: H·x^i for i = 0..127, as 4 big-endian words each. */
function powerTable(h: Buffer): Int32Array {
  const t = new Int32Array(128 * 4);
  let [w0, w1, w2, w3] = [h.readInt32BE(0), h.readInt32BE(4), h.readInt32BE(8), h.readInt32BE(12)] as [number, number, number, number];
  for (let i = 0; i < 128; i++) {
    t.set([w0, w1, w2, w3], i * 4);
    const r = -(w3 & 1) & 0xe1000000;
    w3 = (w3 >>> 1) | (w2 << 31);
    w2 = (w2 >>> 1) | (w1 << 31);
    w1 = (w1 >>> 1) | (w0 << 31);
    w0 = (w0 >>> 1) ^ r;
  }
  return t;
}

function serialMul(t: Int32Array, y: Int32Array): void {
  let z0 = 0;
  let z1 = 0;
  let z2 = 0;
  let z3 = 0;
  let k = 0;
  for (let j = 0; j < 4; j++) {
    let x = y[j] as number;
    for (let b = 0; b < 32; b++, k += 4) {
      const m = x >> 31;
      x <<= 1;
      z0 ^= (t[k] as number) & m;
      z1 ^= (t[k + 1] as number) & m;
      z2 ^= (t[k + 2] as number) & m;
      z3 ^= (t[k + 3] as number) & m;
    }
  }
  y.set([z0, z1, z2, z3]);
}

const h = randomBytes(16);
const data = new Int32Array(randomBytes(4 * 64).buffer);
const table = powerTable(h);
const key = new GhashKey(h);

/** BLOCKS chained multiplications, each after XORing in one of 16 data blocks; the final state. */
function chain(mul: (y: Int32Array) => void): string {
  const y = new Int32Array(4);
  for (let i = 0; i < BLOCKS; i++) {
    const at = (i & 15) * 4;
    for (let j = 0; j < 4; j++) y[j] = (y[j] as number) ^ (data[at + j] as number);
    mul(y);
  }
  return Buffer.from(y.buffer).toString('hex');
}

const variants: Array<[string, (y: Int32Array) => void]> = [
  ['bit-serial (128 masked steps)', (y) => serialMul(table, y)],
  ['spaced-bit integer products (ghash.ts)', (y) => key.mul(y)],
];
const results = variants.map(([, mul]) => chain(mul));
if (results[0] !== results[1]) throw new Error('the two multiplications disagree');
const times = variants.map((): number[] => []);
for (let r = 0; r < ROUNDS; r++) {
  variants.forEach(([, mul], v) => {
    const t0 = process.cpuUsage();
    chain(mul);
    const d = process.cpuUsage(t0);
    times[v]?.push((d.user + d.system) * 1000 / BLOCKS);
  });
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
process.stdout.write(`${BLOCKS} blocks, ${ROUNDS} rounds, load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
variants.forEach(([name], v) => {
  const xs = times[v] ?? [];
  process.stdout.write(`${name}: ${median(xs).toFixed(0)} ns CPU per block (rounds ${xs.map((x) => x.toFixed(0)).join(' ')})\n`);
});
