// Additive noise on numbers and dates: Laplace with scale b (or Gaussian with standard deviation
// σ), b = scale, or sensitivity / epsilon. The noise is capped at ±10 scale (a Laplace draw is
// beyond that with probability e^-10 ≈ 4.5e-5) so a value never moves arbitrarily far, and the
// result stays in the column's domain: integers are rounded, reals keep the input's number of
// decimals, dates move by whole days. The uniform source is injected (crypto-random in the proxy).
import type { AnonymizeProtection } from '@clarus/crds/types.ts';
import type { ValueKind } from './values.ts';
import { numberOf, publish } from './values.ts';

type Spec = NonNullable<AnonymizeProtection['noise']>;

/** A uniform draw in [0, 1). */
export type Uniform = () => number;

export const CAP = 10;

export function scaleOf(spec: Spec): number {
  return spec.scale ?? (spec.sensitivity ?? 0) / (spec.epsilon || Infinity);
}

export function draw(spec: Spec, random: Uniform): number {
  const b = scaleOf(spec);
  let x: number;
  if (spec.distribution === 'gaussian') {
    const u = 1 - random();
    x = b * Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  } else {
    const u = random() - 0.5;
    x = -b * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
  }
  return Math.max(-CAP * b, Math.min(CAP * b, Number.isFinite(x) ? x : 0));
}

/** The value plus noise, or undefined when the text is no number or date of this kind. */
export function withNoise(spec: Spec, kind: ValueKind, text: string, random: Uniform): string | undefined {
  if (kind === 'category') return undefined;
  const v = numberOf(kind, text);
  if (v === undefined) return undefined;
  const noisy = v + draw(spec, random);
  if (kind !== 'real') return publish(kind, noisy);
  const decimals = /\.(\d+)/.exec(text.trim())?.[1]?.length ?? 0;
  return noisy.toFixed(Math.min(decimals, 20));
}
