// ClarusProxy: a load-balanced set of protection proxies running one SecurityPolicy.
import { ageColumn, conditions, localRef, observedGeneration, readyColumn, reasonColumn, type KindDef } from './common.ts';
import { bool, int, map, obj, objectName, oneOf, rules, str, type Schema } from './props.ts';

const quantity: Schema = { 'x-kubernetes-int-or-string': true, description: 'A resource quantity (e.g. 500m, 256Mi).' };

const limits = obj('Limits of each proxy replica.', {
  maxConnections: int('Most client connections one replica accepts; more get SQLSTATE 53300.', { minimum: 1, maximum: 100000, default: 1000 }),
  maxMessageBytes: int('Largest protocol message accepted from a client, in bytes.', { minimum: 1024, maximum: 1073741824, default: 67108864 }),
  connectTimeoutSeconds: int('Timeout for connecting to a backend.', { minimum: 1, maximum: 600, default: 10 }),
  idleTimeoutSeconds: int('Client connections idle this long are closed (0: never).', { minimum: 0, maximum: 604800, default: 0 }),
  drainSeconds: int('On SIGTERM, how long in-flight transactions may finish before connections close.', { minimum: 0, maximum: 3600, default: 30 }),
  maxStatementBytes: int('Longest SQL text the proxy analyses while a policy protects data; longer statements are refused with SQLSTATE 54000.', { minimum: 1024, maximum: 1073741824, default: 1048576 }),
  analysisCacheBytes: int('Memory for cached statement analyses per policy, in bytes (least recently used ones are dropped).', { minimum: 0, maximum: 4294967296, default: 33554432 }),
  computeInProxy: bool('Answer SELECTs that compute on encrypted columns (functions, LIKE, ORDER BY, aggregates…) in two stages, finishing in the proxy\'s embedded PostgreSQL engine (about 300 MiB per replica, started by the first statement that needs it and stopped after computeIdleSeconds without one). Off: such statements are refused with SQLSTATE 0A000, e.g. to keep sidecars small.', { default: true }),
  computeMaxRows: int('Most candidate rows one statement computed in the proxy (two stages: functions, LIKE, ORDER BY… over encrypted columns) may fetch; past it the statement fails with SQLSTATE 54000.', { minimum: 1, maximum: 10000000, default: 100000 }),
  computeMaxBytes: int('Most bytes of candidate values (text form) one statement computed in the proxy may fetch; past it the statement fails with SQLSTATE 54000. The proxy\'s memory must hold about 4× this per engine.', { minimum: 1024, maximum: 4294967296, default: 33554432 }),
  computeIdleSeconds: int('Seconds without a statement computed in the proxy after which its embedded engine is stopped and its memory (about 200 MiB) given back; the next such statement starts it again and waits for it (a few seconds). 0: kept while the proxy runs.', { minimum: 0, maximum: 604800, default: 600 }),
}, { default: {} });

const spec = obj('How the proxies run.', {
  policyRef: localRef('The SecurityPolicy the proxies enforce.', 'SecurityPolicy'),
  mode: oneOf('Deployment: the operator runs a Deployment behind a Service; Sidecar: the proxy is injected '
    + 'into pods labelled clarus.io/inject=<name> and listens on 127.0.0.1.', ['Deployment', 'Sidecar'], { default: 'Deployment' }),
  replicas: int('Number of proxy pods (scale subresource); ignored while autoscaling is set.', { minimum: 0, maximum: 1000, default: 1 }),
  workers: int('Worker processes per proxy container (node:cluster on the shared client port, one Node thread each; '
    + 'CLARUS_WORKERS). Each worker holds its own parsers, caches and, once started, its own in-proxy engine: '
    + 'without resources the operator requests 512Mi per worker (memory limit 1536Mi per worker: the in-proxy engine peaks near 1 GiB while it starts) and, above one worker, '
    + 'one CPU per worker; resources without a CPU request get one CPU per worker above one worker too.', { minimum: 1, maximum: 64, default: 1 }),
  autoscaling: obj('Run a HorizontalPodAutoscaler on CPU instead of a fixed replica count.', {
    minReplicas: int('Lowest replica count.', { minimum: 1, maximum: 1000, default: 1 }),
    maxReplicas: int('Highest replica count.', { minimum: 1, maximum: 1000 }),
    targetCPUUtilizationPercentage: int('Average CPU utilisation the autoscaler aims for.', { minimum: 1, maximum: 100, default: 80 }),
  }, {
    required: ['maxReplicas'],
    ...rules({ rule: '!has(self.minReplicas) || self.minReplicas <= self.maxReplicas', message: 'minReplicas must not exceed maxReplicas', fieldPath: '.minReplicas' }),
  }),
  service: obj('The Service clients connect to (Deployment mode).', {
    port: int('Port clients connect to; the proxy listens on it too.', { minimum: 1, maximum: 65535, default: 5432 }),
    sessionAffinity: oneOf('ClientIP keeps a client on one replica (needed for cancel requests and '
      + 'session state); None spreads connections.', ['ClientIP', 'None'], { default: 'ClientIP' }),
    sessionAffinityTimeoutSeconds: int('How long ClientIP affinity lasts.', { minimum: 1, maximum: 86400, default: 10800 }),
  }, { default: {} }),
  metrics: obj('Prometheus metrics, /healthz and /readyz.', {
    port: int('Port of the metrics and health endpoint.', { minimum: 1, maximum: 65535, default: 9187 }),
  }, { default: {} }),
  tls: obj('TLS towards clients.', {
    secretName: objectName('kubernetes.io/tls Secret with tls.crt and tls.key shown to clients; an optional '
      + 'ca.crt enables client certificates (required by AccessGrants for external proxies).'),
    allowPlaintext: bool('Also accept clients that do not request TLS.', { default: false }),
  }, { required: ['secretName'] }),
  upstream: obj('Collaborative mode: forward to another Clarus proxy instead of the policy\'s backends.', {
    host: str('Host of the partner proxy.', { minLength: 1, maxLength: 253 }),
    port: int('Port of the partner proxy.', { minimum: 1, maximum: 65535, default: 5432 }),
    user: str('User name presented to the partner (its AccessGrant names it as externalProxy); default: this proxy\'s name.', {
      minLength: 1, maxLength: 63, pattern: '^[A-Za-z_][A-Za-z0-9_.-]*$',
    }),
    tls: obj('Client certificate for mutual TLS with the partner.', {
      secretName: objectName('Secret with tls.crt, tls.key and the partner\'s ca.crt.'),
    }, { required: ['secretName'] }),
  }, { required: ['host'] }),
  image: str('Proxy container image (default: the operator\'s own version).', { maxLength: 1024 }),
  serviceAccountName: objectName('ServiceAccount the proxy pods run as (Deployment mode; default: the namespace\'s '
    + 'default). With SecurityPolicy keyring.vaultTransit.auth.kubernetes, the Vault role binds this account.'),
  resources: obj('Compute resources of the proxy container.', {
    requests: map('Minimum resources, e.g. cpu: 100m.', quantity),
    limits: map('Maximum resources, e.g. memory: 512Mi.', quantity),
  }),
  limits,
}, {
  required: ['policyRef'],
  ...rules(
    { rule: "self.mode == 'Deployment' || !has(self.autoscaling)", message: 'autoscaling applies to Deployment mode only', fieldPath: '.autoscaling' },
    { rule: "self.mode == 'Deployment' || !has(self.serviceAccountName)", message: 'serviceAccountName applies to Deployment mode only (a sidecar runs as its application\'s account)', fieldPath: '.serviceAccountName' },
  ),
});

export const clarusProxy: KindDef = {
  kind: 'ClarusProxy',
  plural: 'clarusproxies',
  singular: 'clarusproxy',
  shortNames: ['cp', 'cproxy'],
  description: 'A set of Clarus protection proxies enforcing one SecurityPolicy, with the users of AccessGrants.',
  spec,
  status: obj('Observed state of the proxies.', {
    conditions, observedGeneration,
    replicas: int('Proxy pods that exist (scale subresource).', { minimum: 0 }),
    readyReplicas: int('Proxy pods that are ready.', { minimum: 0 }),
    selector: str('Label selector of the proxy pods (scale subresource).', { maxLength: 1024 }),
    endpoint: str('host:port clients connect to.', { maxLength: 512 }),
    policyHash: str('Hash of the runtime configuration the proxies run.', { maxLength: 80 }),
  }),
  printerColumns: [
    readyColumn,
    { name: 'Replicas', type: 'integer', jsonPath: '.status.readyReplicas', description: 'Ready proxy pods.' },
    { name: 'Policy', type: 'string', jsonPath: '.spec.policyRef.name', description: 'SecurityPolicy enforced.' },
    { name: 'Mode', type: 'string', jsonPath: '.spec.mode', description: 'Deployment or Sidecar.' },
    { name: 'Endpoint', type: 'string', jsonPath: '.status.endpoint', description: 'Where clients connect.', priority: 1 },
    reasonColumn, ageColumn,
  ],
  scale: { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' },
};
