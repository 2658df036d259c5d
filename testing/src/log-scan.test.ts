// The ORM suites' backend scan (compat/lib/backend-scan.ts, through ./log-scan.ts) finds what it looks for: the canary in
// clear or as the hex of its bytes, in log lines of the proxy's databases (continuation lines
// included), and not in the oracle's.
import { describe, expect, it } from 'vitest';
import { found, proxiedLogLines } from './log-scan.ts';

const LOG = [
  "2026-12-01 16:00:00.001 UTC [11] db=orm LOG:  statement: SELECT 1",
  "2026-12-01 16:00:00.002 UTC [12] db=orm_oracle LOG:  statement: INSERT INTO c VALUES ('OrmCanary oracle')",
  '\tAND more OrmCanary of the oracle',
  "2026-12-01 16:00:00.003 UTC [13] db=test_orm_oracle LOG:  statement: INSERT INTO c VALUES ('OrmCanary test oracle')",
  "2026-12-01 16:00:00.004 UTC [14] db=test_orm LOG:  statement: INSERT INTO c VALUES ($1)",
  "2026-12-01 16:00:00.005 UTC [14] db=test_orm DETAIL:  parameters: $1 = 'x'",
  '\tcontinued ormcanary',
].join('\n');

describe('compat backend scan', () => {
  it('keeps the lines of the proxy databases, continuation lines included, and drops the oracle and its test databases', () => {
    const lines = proxiedLogLines(LOG, 'orm_oracle');
    expect(lines.map((l) => l.slice(0, 40))).toEqual([LOG.split('\n')[0]?.slice(0, 40), LOG.split('\n')[4]?.slice(0, 40), LOG.split('\n')[5]?.slice(0, 40), '\tcontinued ormcanary']);
    expect(found(lines.join('\n'))).toEqual(['ormcanary']);
  });
  it('finds the canary as hex (bytea) and in any case', () => {
    expect(found(`'\\x${Buffer.from('OrmCanary').toString('hex')}'`)).toEqual([Buffer.from('OrmCanary').toString('hex')]);
    expect(found('ORMCANARY')).toEqual(['ormcanary']);
    expect(found('\\x01ab')).toEqual([]);
  });
});
