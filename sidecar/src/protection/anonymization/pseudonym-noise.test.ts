// pseudonymize and noise on single values: formats, determinism, the noise's cap and domain.
import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { anonymizeText } from '../anonymize-write.ts';
import { OID } from '../encryption/canonical.ts';
import { CAP, draw, withNoise } from './noise.ts';
import { pseudonym } from './pseudonym.ts';
import { pseudonymRef, writeKeys } from './keys.ts';
import { EHEALTH_POLICY, testRewriter } from '@clarus/testing/rewriter.ts';

const mac = (keyName: string, data: string): Uint8Array => createHmac('sha256', `test-${keyName}`).update(data).digest();

describe('pseudonym', () => {
  it('renders hex, uuid and preserveShape; equal values, equal pseudonyms; keyNames separate', () => {
    expect(pseudonym({ format: 'hex' }, 'Alice', mac)).toMatch(/^[0-9a-f]{32}$/);
    expect(pseudonym({ format: 'uuid' }, 'Alice', mac)).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(pseudonym({}, 'Alice', mac)).toBe(pseudonym({ format: 'hex' }, 'Alice', mac));
    expect(pseudonym({}, 'Alice', mac)).not.toBe(pseudonym({}, 'Alicf', mac));
    expect(pseudonym({ keyName: 'other' }, 'Alice', mac)).not.toBe(pseudonym({}, 'Alice', mac));
    fc.assert(fc.property(fc.string({ maxLength: 80 }), (s) => {
      const p = pseudonym({ format: 'preserveShape' }, s, mac) as string;
      expect([...p].length).toBe([...s].length);
      [...s].forEach((c, i) => {
        const q = [...p][i] as string;
        if (/[0-9]/.test(c)) expect(q).toMatch(/[0-9]/);
        else if (/[a-z]/.test(c)) expect(q).toMatch(/[a-z]/);
        else if (/[A-Z]/.test(c)) expect(q).toMatch(/[A-Z]/);
        else expect(q).toBe(c);
      });
      expect(pseudonym({ format: 'preserveShape' }, s, mac)).toBe(p);
    }));
  });

  it('is applied by anonymizeText only with keys and on text types', () => {
    const keys = { mac, random: () => 0.5 };
    expect(anonymizeText({ pseudonymize: {} }, 'Alice', OID.text)).toBeUndefined();
    expect(anonymizeText({ pseudonymize: {} }, 'Alice', OID.text, keys)).toMatch(/^[0-9a-f]{32}$/);
    expect(anonymizeText({ pseudonymize: {} }, '12', OID.int4, keys)).toBeUndefined();
  });

  it('reversible: the keyName\'s deterministic ciphertext in hex, decryptable; never without the cipher', () => {
    const rw = testRewriter(EHEALTH_POLICY);
    const keys = writeKeys((r) => rw.cipher(r));
    const p = anonymizeText({ pseudonymize: { reversible: true, format: 'hex' } }, 'Zoë Alice', OID.text, keys) as string;
    expect(p).toMatch(/^[0-9a-f]+$/);
    expect(p.length).toBe(2 * (24 + Buffer.byteLength('Zoë Alice')));
    expect(anonymizeText({ pseudonymize: { reversible: true } }, 'Zoë Alice', OID.text, keys)).toBe(p);
    expect(anonymizeText({ pseudonymize: { reversible: true } }, 'Zoë Alicf', OID.text, keys)).not.toBe(p);
    expect(rw.cipher(pseudonymRef('default')).decrypt(Buffer.from(p, 'hex'))).toBe('Zoë Alice');
    expect(pseudonym({ reversible: true }, 'Alice', mac)).toBeUndefined();
  });
});

describe('noise', () => {
  it('never moves a value by more than the cap, and keeps the domain (integers, decimals, dates)', () => {
    fc.assert(fc.property(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.constantFrom('laplace', 'gaussian') as fc.Arbitrary<'laplace' | 'gaussian'>, (a, b, distribution) => {
      const seq = [a, b, a, b];
      const random = () => seq.shift() ?? 0.5;
      const spec = { distribution, scale: 3 };
      expect(Math.abs(draw(spec, random))).toBeLessThanOrEqual(CAP * 3);
      expect(withNoise(spec, 'integer', '40', random)).toMatch(/^-?\d+$/);
      expect(Math.abs(Number(withNoise(spec, 'integer', '40', random)) - 40)).toBeLessThanOrEqual(CAP * 3);
      expect(withNoise(spec, 'real', '12.50', random)).toMatch(/^-?\d+\.\d\d$/);
      expect(withNoise(spec, 'date', '2015-03-01', random)).toMatch(/^\d{4}-\d\d-\d\d$/);
    }));
  });

  it('uses sensitivity / epsilon as the scale; refuses what is no number', () => {
    expect(Math.abs(draw({ distribution: 'laplace', epsilon: 1, sensitivity: 2 }, () => 0.75))).toBeCloseTo(2 * Math.log(2), 10);
    expect(Math.abs(draw({ distribution: 'laplace', epsilon: 1, sensitivity: 2 }, () => 0.999999))).toBe(CAP * 2);
    expect(withNoise({ distribution: 'laplace', scale: 1 }, 'integer', 'abc', () => 0.3)).toBeUndefined();
    expect(withNoise({ distribution: 'laplace', scale: 1 }, 'category', '1', () => 0.3)).toBeUndefined();
  });
});
