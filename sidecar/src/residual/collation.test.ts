import { describe, expect, test } from 'vitest';
import { backendLocaleSql, engineInitdbParams, localeKind, localeSupport, type BackendLocale } from './collation.ts';

const libc = (collate: string, ctype: string): BackendLocale => ({ provider: 'c', collate, ctype, locale: null, encoding: 'UTF8', serverMajor: 15 });

describe('which backend locales the residual stage reproduces', () => {
  test.each([
    ['C', 'c'], ['POSIX', 'c'], ['C.UTF-8', 'c-utf8'], ['C.utf8', 'c-utf8'], ['en_US.UTF-8', 'other'], ['c', 'other'], [null, 'other'],
  ])('%s is %s', (name, kind) => { expect(localeKind(name)).toBe(kind); });

  test('libc C / POSIX: order and case mapping, engine initialised with C', () => {
    expect(localeSupport(libc('C', 'C'))).toEqual({ ordering: true, caseMapping: true, engine: 'c', reason: '' });
    expect(localeSupport(libc('POSIX', 'POSIX')).caseMapping).toBe(true);
  });

  test('libc C.UTF-8: code-point order is reproduced, glibc case mapping is not', () => {
    const s = localeSupport(libc('C.UTF-8', 'C.UTF-8'));
    expect(s).toMatchObject({ ordering: true, caseMapping: false, engine: 'builtin-c-utf8' });
    expect(s.reason).toMatch(/case mapping of LC_CTYPE C.UTF-8/);
  });

  test('libc natural-language locales: ordering refused, with the reason', () => {
    const s = localeSupport(libc('en_US.UTF-8', 'en_US.UTF-8'));
    expect(s).toMatchObject({ ordering: false, caseMapping: false });
    expect(s.reason).toMatch(/text order of LC_COLLATE en_US.UTF-8 is not reproduced/);
    expect(localeSupport(libc('en_US.UTF-8', 'C'))).toMatchObject({ ordering: false, caseMapping: true, engine: 'c' });
  });

  test('ICU: nothing locale-dependent is reproduced', () => {
    expect(localeSupport({ provider: 'i', collate: 'C', ctype: 'C', locale: 'en-US', encoding: 'UTF8', serverMajor: 16 })).toMatchObject({ ordering: false, caseMapping: false });
  });

  test('builtin provider: C always; C.UTF-8 case mapping only from the engine\'s own major (18)', () => {
    const b = (locale: string, serverMajor: number): BackendLocale => ({ provider: 'b', collate: 'C', ctype: 'C', locale, encoding: 'UTF8', serverMajor });
    expect(localeSupport(b('C', 17))).toMatchObject({ ordering: true, caseMapping: true, engine: 'c' });
    expect(localeSupport(b('C.UTF-8', 18))).toMatchObject({ ordering: true, caseMapping: true, engine: 'builtin-c-utf8' });
    expect(localeSupport(b('C.UTF-8', 17))).toMatchObject({ ordering: true, caseMapping: false });
    expect(localeSupport(b('PG_UNICODE_FAST', 18))).toMatchObject({ ordering: false, caseMapping: false });
  });

  test('a server encoding other than UTF8 is refused', () => {
    expect(localeSupport({ ...libc('C', 'C'), encoding: 'LATIN1' })).toMatchObject({ ordering: false, caseMapping: false });
  });

  test('the catalog query names the right column per major; initdb parameters per engine locale', () => {
    expect(backendLocaleSql(15)).toContain('daticulocale');
    expect(backendLocaleSql(17)).toContain('datlocale');
    expect(engineInitdbParams('c')).toEqual(['--locale=C']);
    expect(engineInitdbParams('builtin-c-utf8')).toContain('--builtin-locale=C.UTF-8');
  });
});
