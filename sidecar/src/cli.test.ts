import { describe, expect, it, vi } from 'vitest';
import { parseHostPort } from './index.ts';
import { auditFromEnv, coresGiven, main, residualFromEnv, workerAuditFile, workerCount } from './cli.ts';
import { shareOf } from './io/server.ts';

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

  it('takes the in-proxy stage settings from the environment; a bad idle stop is an error', () => {
    expect(residualFromEnv({ CLARUS_RESIDUAL: 'off' })).toBeUndefined();
    expect(residualFromEnv({})).toEqual({});
    expect(residualFromEnv({ CLARUS_RESIDUAL_ENGINES: '2', CLARUS_RESIDUAL_IDLE_SECONDS: '0' })).toEqual({ engines: 2, idleSeconds: 0 });
    expect(residualFromEnv({ CLARUS_RESIDUAL_IDLE_SECONDS: '90' })).toEqual({ idleSeconds: 90 });
    expect(residualFromEnv({ CLARUS_RESIDUAL_IDLE_SECONDS: '604800' })).toEqual({ idleSeconds: 604800 });
    for (const bad of ['', '-1', '1.5', 'ten', '604801', '9999999']) expect(() => residualFromEnv({ CLARUS_RESIDUAL_IDLE_SECONDS: bad })).toThrow(/CLARUS_RESIDUAL_IDLE_SECONDS must be a whole number of seconds up to 604800/);
  });

  it('parses HOST:PORT, including IPv6 in brackets', () => {
    expect(parseHostPort('127.0.0.1:5432')).toEqual({ host: '127.0.0.1', port: 5432 });
    expect(parseHostPort('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseHostPort(':6432')).toEqual({ host: '0.0.0.0', port: 6432 });
    expect(() => parseHostPort('localhost')).toThrow(/HOST:PORT/);
    expect(() => parseHostPort('h:70000')).toThrow(/HOST:PORT/);
  });

  it('takes the worker count from --workers, CLARUS_WORKERS or the cores given', () => {
    expect(workerCount('3', { CLARUS_WORKERS: '5' }, 8)).toBe(3);
    expect(workerCount(undefined, { CLARUS_WORKERS: '5' }, 8)).toBe(5);
    expect(workerCount(undefined, {}, 8)).toBe(8);
    expect(() => workerCount('0', {}, 8)).toThrow(/--workers/);
    expect(() => workerCount('two', {}, 8)).toThrow(/--workers/);
    // A container's CPU quota bounds the CPUs the process may run on.
    expect(coresGiven('200000 100000\n', 16)).toBe(2);
    expect(coresGiven('150000 100000\n', 16)).toBe(2);
    expect(coresGiven('50000 100000\n', 16)).toBe(1);
    expect(coresGiven('max 100000\n', 16)).toBe(16);
    expect(coresGiven(undefined, 4)).toBe(4);
  });

  it('gives workers after the first their own audit chain file', () => {
    expect(workerAuditFile('/var/log/clarus/audit.log', undefined)).toBe('/var/log/clarus/audit.log');
    expect(workerAuditFile('/var/log/clarus/audit.log', { index: 0, count: 2 })).toBe('/var/log/clarus/audit.log');
    // Not `audit.log.<x>`: that would read as a rotated file of the first worker's chain.
    expect(workerAuditFile('/var/log/clarus/audit.log', { index: 1, count: 2 })).toBe('/var/log/clarus/audit-worker1.log');
    expect(workerAuditFile('/audit', { index: 2, count: 3 })).toBe('/audit-worker2');
    // N chains in one volume: each worker keeps its part of the rotated files.
    const env = { CLARUS_AUDIT_LOG: '/v/audit.jsonl', CLARUS_AUDIT_MAX_FILES: '16', CLARUS_AUDIT_MAX_BYTES: '1024' };
    expect(auditFromEnv(env, undefined)).toEqual({ auditFile: '/v/audit.jsonl', auditMaxBytes: 1024, auditMaxFiles: 16 });
    expect(auditFromEnv(env, { index: 2, count: 3 })).toEqual({ auditFile: '/v/audit-worker2.jsonl', auditMaxBytes: 1024, auditMaxFiles: 5 });
  });

  it('splits a connection limit exactly over the workers', () => {
    const parts = (n: number, count: number) => Array.from({ length: count }, (_, index) => shareOf(n, { index, count }));
    expect(parts(100, 2)).toEqual([50, 50]);
    expect(parts(5, 2)).toEqual([3, 2]);
    expect(parts(1, 3)).toEqual([1, 0, 0]);
  });
});
