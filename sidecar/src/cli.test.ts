import { describe, expect, it, vi } from 'vitest';
import { parseHostPort } from './index.ts';
import { main } from './cli.ts';

describe('clarus proxy CLI', () => {
  it('answers usage errors with exit code 2 and a missing configuration with 1', async () => {
    const err = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      expect(await main(['--bogus'])).toBe(2);
      expect(await main([])).toBe(2);
      expect(await main(['--help'])).toBe(0);
      expect(await main(['--config', '/nonexistent/clarus'])).toBe(1);
      expect(err.mock.calls.map((c) => String(c[0])).join('')).toMatch(/cannot read \/nonexistent\/clarus\/config\.json/);
    } finally {
      err.mockRestore();
    }
  });

  it('parses HOST:PORT, including IPv6 in brackets', () => {
    expect(parseHostPort('127.0.0.1:5432')).toEqual({ host: '127.0.0.1', port: 5432 });
    expect(parseHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort(':6432')).toEqual({ host: '0.0.0.0', port: 6432 });
    expect(() => parseHostPort('localhost')).toThrow(/HOST:PORT/);
    expect(() => parseHostPort('h:70000')).toThrow(/HOST:PORT/);
  });
});
