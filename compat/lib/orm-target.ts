// The ORM suites' endpoints (issue 11): a Clarus proxy (`clarus proxy`, a separate process) whose
// policy encrypts the customer tables of every ORM suite, in front of its own database `orm`, and
// an oracle database `orm_oracle` on the same server that the suites reach directly: each suite runs
// the same application life against both and compares what it sees, then checks what `orm` stores.
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { RuntimeDataset } from '@clarus/policy/runtime/config.ts';
import type { PgCluster } from '@clarus/testing/pg.ts';
import { AUTH_USERS } from '@clarus/testing/pg.ts';
import { DEFAULT_USER, startProxyProcess, writeProxyConfig } from '@clarus/testing/proxy.ts';
import { directEndpoint, type Endpoint } from '@clarus/testing/endpoint.ts';
import { logStatements } from './backend-scan.ts';

/** The customer table of each ORM suite (its prefix keeps the suites apart). */
export const ORM_CUSTOMER_TABLES = ['sa_customer', 'saa_customer', 'shop_customer', 'sq_customers', 'to_customer', 'hb_customer'];

const enc = (mode: 'randomized' | 'deterministic', searchable = false) => ({ encrypt: { mode, searchable, keyName: 'orm' } });

function datasets(backend: string): RuntimeDataset[] {
  return ORM_CUSTOMER_TABLES.map((table) => ({
    name: table.replace(/_/g, '-'), schema: 'public', table, rowKey: 'id',
    columns: [
      { name: 'id', attributeType: 'technicalIdentifier', backend },
      { name: 'name', attributeType: 'identifier', ...enc('randomized'), backend },
      { name: 'email', attributeType: 'identifier', ...enc('randomized', true), backend },
      { name: 'ssn', attributeType: 'identifier', ...enc('deterministic'), backend },
    ],
  }));
}

export interface OrmTarget {
  proxy: Endpoint;
  /** The proxy's backend database, reached directly (what is stored). */
  backend: Endpoint;
  /** The oracle database, reached directly (what PostgreSQL alone shows). */
  oracle: Endpoint;
  stop(): Promise<void>;
}

export async function startOrmTarget(pg: PgCluster, caFile: string): Promise<OrmTarget> {
  const owner = AUTH_USERS.scram;
  for (const db of ['orm', 'orm_oracle']) await pg.psql(`CREATE DATABASE ${db} OWNER ${owner.user}`);
  await logStatements(pg);
  const cfg = writeProxyConfig({
    backends: [{ cluster: pg, database: 'orm', tls: 'verify-full', user: owner.user, password: owner.password }],
    users: [{ ...DEFAULT_USER, grants: [{ grant: 'orm', datasets: ['*'], access: 'readWrite', view: 'plaintext' }] }],
    tls: { allowPlaintext: false },
  });
  const backend = cfg.config.backends[0]?.name ?? 'primary';
  cfg.config.policy.keyring.keys = [{ name: 'orm', versions: [1], current: 1 }];
  cfg.config.policy.datasets = datasets(backend);
  cfg.write(cfg.config);
  mkdirSync(join(cfg.dir, 'secrets/keyring'), { recursive: true });
  writeFileSync(join(cfg.dir, 'secrets/keyring/orm.v1'), randomBytes(32).toString('base64'), { mode: 0o600 });
  let proc: Awaited<ReturnType<typeof startProxyProcess>>;
  try {
    // The in-proxy stage is on, as in a deployed `clarus proxy` (ORDER BY an encrypted column, paging).
    proc = await startProxyProcess(cfg.dir, [], { CLARUS_RESIDUAL: 'on' });
  } catch (e) {
    cfg.destroy();
    throw e;
  }
  return {
    proxy: { host: proc.host, port: proc.port, database: 'orm', user: DEFAULT_USER.name, password: DEFAULT_USER.password, sslmode: 'verify-full', caFile },
    backend: directEndpoint(pg, caFile, 'orm'),
    oracle: directEndpoint(pg, caFile, 'orm_oracle'),
    stop: async () => { await proc.close(); cfg.destroy(); },
  };
}
