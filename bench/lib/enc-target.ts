// The Clarus proxy with a policy that encrypts columns of the benchmark tables (issue 4): its own
// backend database (the stored layout differs per policy, so the same table names need their own
// database), a fresh random master key in the keyring, and a grant that lets the benchmark user
// read and write plaintext. Started as `cli/bin/clarus proxy --config DIR`, like in production.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import { datasets, encryptedColumns, KEY_NAME, type EncryptedVariant } from './encrypted.ts';
import { serverPid } from './procs.ts';
import { SERVICE, type RunningTarget, type Target } from './targets.ts';

export function encryptedTarget(v: EncryptedVariant): Target {
  const cols = encryptedColumns(v);
  return {
    name: v.target,
    description: `Clarus proxy, ${cols.length} encrypted columns (${cols.map((c) => `${c}: ${v.columns[c]?.mode}${v.columns[c]?.searchable ? '+searchable' : ''}`).join(', ')})`,
    start: async (pg: PgCluster, opts): Promise<RunningTarget> => {
      await pg.psql(`CREATE DATABASE ${v.database} OWNER ${SERVICE.user}`);
      const cfg = writeProxyConfig({
        backends: [{ cluster: pg, database: v.database, tls: 'disable', maxConnections: opts.maxSessions + 10, user: SERVICE.user, password: SERVICE.password }],
        users: [{ ...DEFAULT_USER, grants: [{ grant: 'bench', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }],
        limits: { maxConnections: opts.maxSessions + 50 },
      });
      const backend = cfg.config.backends[0]?.name ?? 'primary';
      cfg.config.policy.keyring.keys = [{ name: KEY_NAME, versions: [1], current: 1 }];
      cfg.config.policy.datasets = datasets(v, backend);
      cfg.write(cfg.config);
      mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
      writeFileSync(join(cfg.dir, `secrets/keyring/${KEY_NAME}.v1`), randomBytes(32).toString('base64'), { mode: 0o600 });
      let proc: Awaited<ReturnType<typeof startProxyProcess>>;
      try {
        // The in-proxy stage computes the two-stage scenarios (issue 10).
        proc = await startProxyProcess(cfg.dir, [], { CLARUS_RESIDUAL: 'on', ...(opts.nodeOptions ? { NODE_OPTIONS: opts.nodeOptions } : {}), ...opts.env }, opts.bin);
      } catch (e) {
        cfg.destroy();
        throw e;
      }
      return {
        endpoint: { host: proc.host, port: proc.port, database: v.database, user: DEFAULT_USER.name, password: DEFAULT_USER.password, sslmode: 'disable' },
        pid: proc.child.pid === undefined ? undefined : serverPid(proc.child.pid),
        database: v.database, encrypted: cols, metricsPort: proc.metricsPort,
        stop: async () => { await proc.close(); cfg.destroy(); },
      };
    },
  };
}
