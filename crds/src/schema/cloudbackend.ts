// CloudBackend: a third-party PostgreSQL database that receives protected data.
import { ageColumn, conditions, localRef, observedGeneration, readyColumn, reasonColumn, secretKeyRef, type KindDef } from './common.ts';
import { int, named, obj, oneOf, rules, str } from './props.ts';

export const TLS_MODES = ['disable', 'require', 'verify-ca', 'verify-full'] as const;

const tls = obj('How the proxy secures its connection to this database (required).', {
  mode: named('TlsMode', oneOf('disable: no TLS; require: TLS without certificate checks; verify-ca: the server '
    + 'certificate must chain to the CA; verify-full: verify-ca plus the host name must match.', TLS_MODES, {
    default: 'verify-full',
  })),
  caSecretRef: secretKeyRef('Secret holding the CA certificate (PEM) the server certificate must chain to; '
    + 'required by verify-ca and verify-full.', 'ca.crt'),
}, {
  required: ['mode'],
  ...rules(
    { rule: "self.mode in ['disable', 'require'] || has(self.caSecretRef)", message: 'verify-ca and verify-full need caSecretRef (the CA that signed the server certificate)', fieldPath: '.caSecretRef', reason: 'FieldValueRequired' },
    { rule: "!has(self.caSecretRef) || self.mode in ['verify-ca', 'verify-full']", message: 'caSecretRef is only used by verify-ca and verify-full', fieldPath: '.caSecretRef', reason: 'FieldValueForbidden' },
  ),
});

export const cloudBackend: KindDef = {
  kind: 'CloudBackend',
  plural: 'cloudbackends',
  singular: 'cloudbackend',
  shortNames: ['cb', 'cloudbe'],
  description: 'A third-party (cloud) PostgreSQL database that stores data protected by a SecurityPolicy. '
    + 'The proxy connects to it with its own credentials; clients never see them.',
  spec: obj('Where the database is and how the proxy authenticates to it.', {
    host: str('Host name or IP address of the PostgreSQL server.', { minLength: 1, maxLength: 253 }),
    port: int('TCP port of the PostgreSQL server.', { minimum: 1, maximum: 65535, default: 5432 }),
    database: str('Database name on the server.', { minLength: 1, maxLength: 63 }),
    credentialsSecretRef: localRef('Secret with the keys `username` and `password` the proxy logs in with: the read-write '
      + 'role, used by sessions of users with at least one readWrite AccessGrant (and for catalog reads).', 'Secret'),
    readOnlyCredentialsSecretRef: localRef('Secret with the keys `username` and `password` of a read-only role (SELECT '
      + 'only): sessions of users whose AccessGrants are all read (or who have none) log in with it, so the database '
      + 'itself refuses their writes even where the proxy\'s grant check does not reach. Optional but recommended: '
      + 'without it every session uses credentialsSecretRef. See docs/security-model.md, Least-privilege backend setup.', 'Secret'),
    tls,
    pool: obj('Connection pool towards this database, per proxy replica.', {
      maxConnections: int('Most server connections one proxy replica opens.', { minimum: 1, maximum: 10000, default: 20 }),
    }, { default: {} }),
  }, {
    required: ['host', 'database', 'credentialsSecretRef'],
    ...rules(
      // Optional in the type for compatibility, required here: no silent default for transport security.
      { rule: 'has(self.tls)', message: 'tls is required: set mode (verify-full with caSecretRef recommended, verify-ca, require or disable)', fieldPath: '.tls', reason: 'FieldValueRequired' },
      // Both Secrets use the keys username/password: the same Secret would be the same role.
      { rule: '!has(self.readOnlyCredentialsSecretRef) || self.readOnlyCredentialsSecretRef.name != self.credentialsSecretRef.name', message: 'readOnlyCredentialsSecretRef must name another Secret than credentialsSecretRef (the same Secret is the same role)', fieldPath: '.readOnlyCredentialsSecretRef', reason: 'FieldValueInvalid' },
    ),
  }),
  status: obj('Observed state of the backend.', {
    conditions,
    observedGeneration,
  }),
  printerColumns: [
    { name: 'Host', type: 'string', jsonPath: '.spec.host', description: 'Database host.' },
    { name: 'Database', type: 'string', jsonPath: '.spec.database', description: 'Database name.' },
    { name: 'TLS', type: 'string', jsonPath: '.spec.tls.mode', description: 'TLS mode.', priority: 1 },
    { name: 'ReadOnlyRole', type: 'string', jsonPath: '.status.conditions[?(@.type=="ReadOnlyRole")].status', description: 'Whether sessions of read-only users log in with a read-only database role.', priority: 1 },
    readyColumn, reasonColumn, ageColumn,
  ],
};
