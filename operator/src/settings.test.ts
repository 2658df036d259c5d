import { describe, expect, it } from 'vitest';
import { parseSettings } from './settings.ts';
import type { Settings } from './settings.ts';

const defaults = { namespace: 'from-pod', identity: 'host-1' };
const settings = (argv: string[], env: NodeJS.ProcessEnv = {}): Settings => {
  const p = parseSettings(argv, env, defaults);
  if (p.help) throw new Error('help');
  return p.settings;
};

describe('operator settings', () => {
  it('has defaults without flags or environment, and no webhook unless asked', () => {
    expect(settings([])).toMatchObject({
      namespace: 'from-pod', identity: 'host-1', logLevel: 'info', watchNamespaces: [], leaderElection: true,
      leaseName: 'clarus-operator', leaseDurationSeconds: 15, metricsListen: { host: '0.0.0.0', port: 8080 },
      proxyImagePullPolicy: 'IfNotPresent', resyncSeconds: 300, concurrency: 4, reachabilityTimeoutMs: 0,
    });
    expect(settings([]).webhook).toBeUndefined();
  });

  it('reads the variables the Helm chart sets', () => {
    const s = settings([], {
      CLARUS_NAMESPACE: 'clarus', CLARUS_POD_NAME: 'op-0', CLARUS_LOG_LEVEL: 'debug', CLARUS_WATCH_NAMESPACES: 'a, b,',
      CLARUS_LEADER_ELECTION: 'false', CLARUS_LEADER_ELECTION_LEASE: 'lease-x', CLARUS_METRICS_LISTEN: '0.0.0.0:9090',
      CLARUS_PROXY_IMAGE: 'img:1', CLARUS_PROXY_IMAGE_PULL_POLICY: 'Always', CLARUS_WEBHOOK_LISTEN: '0.0.0.0:9443',
      CLARUS_WEBHOOK_PATH: '/mutate', CLARUS_WEBHOOK_CONFIGURATION: 'rel-clarus', CLARUS_WEBHOOK_SERVICE: 'rel-svc',
      CLARUS_WEBHOOK_CERT_SECRET: 'rel-tls', CLARUS_WEBHOOK_CERT_MODE: 'cert-manager',
    });
    expect(s).toMatchObject({
      namespace: 'clarus', identity: 'op-0', logLevel: 'debug', watchNamespaces: ['a', 'b'], leaderElection: false,
      leaseName: 'lease-x', metricsListen: { host: '0.0.0.0', port: 9090 }, proxyImage: 'img:1', proxyImagePullPolicy: 'Always',
    });
    expect(s.webhook).toEqual({
      listen: { host: '0.0.0.0', port: 9443 }, path: '/mutate', configName: 'rel-clarus', secretName: 'rel-tls',
      dnsNames: ['rel-svc.clarus.svc', 'rel-svc.clarus.svc.cluster.local', 'rel-svc.clarus', 'rel-svc'], ipAddresses: [], certMode: 'cert-manager',
    });
  });

  it('lets flags override the environment', () => {
    const s = settings(['--namespace', 'flag-ns', '--watch-namespace', 'x', '--leader-elect', 'true', '--webhook-listen', '127.0.0.1:1',
      '--webhook-ip', '127.0.0.1'], { CLARUS_NAMESPACE: 'env-ns', CLARUS_WATCH_NAMESPACES: 'a,b', CLARUS_LEADER_ELECTION: 'false' });
    expect(s).toMatchObject({ namespace: 'flag-ns', watchNamespaces: ['x'], leaderElection: true });
    expect(s.webhook).toMatchObject({ listen: { host: '127.0.0.1', port: 1 }, ipAddresses: ['127.0.0.1'], dnsNames: [], certMode: 'operator' });
  });

  it.each([
    [['--log-level', 'loud'], /--log-level must be one of/],
    [['--leader-elect', 'yes'], /--leader-elect must be one of/],
    [['--concurrency', '0'], /--concurrency must be an integer >= 1/],
    [['--resync-seconds', 'x'], /--resync-seconds/],
    [['--metrics-listen', 'nope'], /invalid HOST:PORT/],
    [['--webhook-listen', ':9443'], /certificate needs a name/],
    [['--webhook-listen', ':9443', '--webhook-ip', '1.2.3.4', '--webhook-cert-mode', 'vault'], /--webhook-cert-mode/],
    [['--bogus'], /Unknown option/],
  ])('rejects %j', (argv, message) => {
    expect(() => parseSettings(argv, {}, defaults)).toThrow(message);
  });

  it('recognises --help', () => {
    expect(parseSettings(['--help'], {}, defaults)).toEqual({ help: true });
  });
});
