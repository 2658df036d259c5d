// The audit file across rotations, on real files: logrotate's rename + create, copytruncate, the
// proxy's own size limit, a restart after rotation, deleted old files, and tampering.
import { mkdtempSync, readFileSync, renameSync, rmSync, truncateSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lineHash } from './audit.ts';
import type { AuditEntry } from './audit.ts';
import { AuditFile, auditChainFiles, readAuditLines, verifyAuditFiles } from './audit-file.ts';

let dir: string;
let path: string;
let clock: number;
const now = () => new Date(clock);
const entry = (i: number): AuditEntry => ({ time: new Date(i * 1000).toISOString(), user: `u${i}`, datasets: ['patients'], columns: [], fingerprint: `f${i}`, outcome: 'allow' });

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'clarus-audit-'));
  path = join(dir, 'audit.log');
  clock = 1_000_000;
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Gives rotated files distinct, ordered modification times (a fast test writes them in one tick). */
function age(file: string, secondsAgo: number): void {
  const t = new Date(Date.now() - secondsAgo * 1000);
  utimesSync(file, t, t);
}

describe('audit file rotation', () => {
  it('logrotate create: the chain goes on in the new file, verifiable across both', () => {
    const f = new AuditFile(path, { now });
    for (let i = 0; i < 3; i++) f.append(entry(i));
    renameSync(path, `${path}.1`);
    age(`${path}.1`, 60);
    clock += 1500;
    f.append(entry(3));
    f.append(entry(4));
    f.close();
    const old = readAuditLines(`${path}.1`);
    const fresh = readAuditLines(path);
    expect([old.length, fresh.length]).toEqual([3, 2]);
    expect(JSON.parse(fresh[0] as string).prev).toBe(lineHash(old[2] as string));
    expect(auditChainFiles(path)).toEqual([`${path}.1`, path]);
    expect(verifyAuditFiles(auditChainFiles(path))).toEqual({ ok: true, files: 2, count: 5, startsMidChain: false });
  });

  it('reopen() (SIGHUP) switches at once; copytruncate keeps appending', () => {
    const f = new AuditFile(path, { now });
    f.append(entry(0));
    renameSync(path, `${path}.1`);
    age(`${path}.1`, 60);
    f.reopen();
    f.append(entry(1));
    expect(readAuditLines(path)).toHaveLength(1);
    writeFileSync(`${path}.0`, readFileSync(path));
    age(`${path}.0`, 30);
    truncateSync(path, 0);
    f.append(entry(2));
    f.close();
    expect(readAuditLines(path)).toHaveLength(1);
    expect(verifyAuditFiles(auditChainFiles(path))).toMatchObject({ ok: true, count: 3 });
  });

  it('rotates by size on its own, and a restart on an empty file resumes the chain', () => {
    const f = new AuditFile(path, { now, maxBytes: 600 });
    for (let i = 0; i < 8; i++) { clock += 1; f.append(entry(i)); }
    f.close();
    const files = auditChainFiles(path);
    expect(files.length).toBeGreaterThan(2);
    files.slice(0, -1).forEach((file, i) => age(file, 100 - i));
    renameSync(path, `${path}.zzz-last`);
    age(`${path}.zzz-last`, 1);
    const g = new AuditFile(path, { now });
    g.append(entry(8));
    g.close();
    expect(verifyAuditFiles(auditChainFiles(path))).toMatchObject({ ok: true, count: 9, startsMidChain: false });
  });

  it('keeps at most maxFiles rotated files, deleting the oldest; what remains verifies as starting mid-chain', () => {
    const f = new AuditFile(path, { now, maxBytes: 400, maxFiles: 2 });
    for (let i = 0; i < 12; i++) { clock += 1; f.append(entry(i)); }
    f.close();
    const files = auditChainFiles(path);
    expect(files).toHaveLength(3);
    const users = files.flatMap((file) => readAuditLines(file).map((l) => (JSON.parse(l) as { user: string }).user));
    expect(users[users.length - 1]).toBe('u11');
    expect(users).toEqual(Array.from({ length: users.length }, (_, i) => `u${12 - users.length + i}`));
    expect(users.length).toBeLessThan(12);
    expect(verifyAuditFiles(files)).toEqual({ ok: true, files: 3, count: users.length, startsMidChain: true });
  });

  it('reports a chain whose oldest files were deleted, and refuses an edited line or a missing file', () => {
    const f = new AuditFile(path, { now, maxBytes: 400 });
    for (let i = 0; i < 6; i++) { clock += 1; f.append(entry(i)); }
    f.close();
    const files = auditChainFiles(path);
    files.slice(0, -1).forEach((file, i) => age(file, 100 - i));
    const ordered = auditChainFiles(path);
    expect(ordered.length).toBeGreaterThanOrEqual(3);
    expect(verifyAuditFiles(ordered.slice(1))).toMatchObject({ ok: true, startsMidChain: true });
    expect(verifyAuditFiles([ordered[0] as string, ...ordered.slice(2)])).toMatchObject({ ok: false, file: ordered[2], line: 1 });
    const victim = ordered[1] as string;
    writeFileSync(victim, readFileSync(victim, 'utf8').replace('"u', '"x'));
    expect(verifyAuditFiles(ordered)).toMatchObject({ ok: false });
  });
});
