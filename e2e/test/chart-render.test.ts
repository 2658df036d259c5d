// The Helm chart, rendered by the real helm binary (no cluster): lint is clean, the objects carry
// the fields the operator and the API server depend on, values are checked by values.schema.json.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { chartDir, findHelm, makeHelm, parseManifests, type Helm, type Manifest } from '../src/index.ts';

interface Rule { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[] }
interface Container {
  args?: string[];
  image?: string;
  env?: { name: string; value?: string }[];
  securityContext?: Record<string, unknown>;
  livenessProbe?: unknown;
  readinessProbe?: unknown;
}

const allFeatures = ['--set', 'monitoring.serviceMonitor.enabled=true', '--set', 'monitoring.grafanaDashboard.enabled=true',
  '--set', 'webhook.certManager.enabled=true'];

function byKind(docs: Manifest[], kind: string): Manifest[] {
  return docs.filter((d) => d.kind === kind);
}

function one(docs: Manifest[], kind: string): Manifest {
  const found = byKind(docs, kind);
  expect(found, `exactly one ${kind}`).toHaveLength(1);
  return found[0] as Manifest;
}

function operatorContainer(docs: Manifest[]): Container {
  const dep = one(docs, 'Deployment') as Manifest & { spec: { template: { spec: { containers: Container[] } } } };
  return dep.spec.template.spec.containers[0] as Container;
}

describe('helm chart (rendering)', () => {
  let helm: Helm;
  let dir: string;
  const render = async (...args: string[]): Promise<Manifest[]> =>
    parseManifests(await helm.ok(['template', 'clarus', chartDir, '--namespace', 'clarus-system', ...args]));

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'clarus-helm-'));
    helm = makeHelm(findHelm(), dir);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test('helm lint --strict is clean, with defaults and with every optional feature', async () => {
    for (const extra of [[], allFeatures]) {
      const res = await helm.run(['lint', '--strict', chartDir, ...extra]);
      expect(res.code, res.stdout + res.stderr).toBe(0);
      expect(res.stdout).not.toMatch(/\[(WARNING|ERROR)\]/);
      expect(res.stdout).toContain('0 chart(s) failed');
    }
  });

  test('default render: CRDs kept on uninstall, operator Deployment hardened, webhook scoped', async () => {
    const docs = await render();
    const crds = byKind(docs, 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata?.name).sort()).toEqual([
      'accessgrants.clarus.io', 'clarusproxies.clarus.io', 'cloudbackends.clarus.io', 'securitypolicies.clarus.io']);
    for (const crd of crds) expect(crd.metadata?.annotations?.['helm.sh/resource-policy']).toBe('keep');

    const dep = one(docs, 'Deployment') as Manifest & { spec: { replicas: number; template: { spec: Record<string, unknown> } } };
    expect(dep.spec.replicas).toBe(2);
    expect(dep.spec.template.spec.securityContext).toMatchObject({ runAsNonRoot: true });
    const c = operatorContainer(docs);
    expect(c.args).toEqual(['operator']);
    expect(c.image).toBe('clarus:0.1.0');
    expect(c.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(c.livenessProbe).toBeDefined();
    expect(c.readinessProbe).toBeDefined();
    const env = Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
    expect(env).toMatchObject({
      CLARUS_LEADER_ELECTION: 'true', CLARUS_WEBHOOK_CONFIGURATION: 'clarus-clarus-operator',
      CLARUS_WEBHOOK_CERT_MODE: 'operator', CLARUS_PROXY_IMAGE: 'clarus:0.1.0',
    });

    const mwc = one(docs, 'MutatingWebhookConfiguration') as Manifest & { webhooks: Record<string, unknown>[] };
    expect(mwc.webhooks).toHaveLength(1);
    expect(mwc.webhooks[0]).toMatchObject({
      failurePolicy: 'Fail',
      sideEffects: 'None',
      rules: [{ operations: ['CREATE'], apiGroups: [''], apiVersions: ['v1'], resources: ['pods'] }],
      namespaceSelector: { matchLabels: { 'clarus.io/injection': 'enabled' } },
      objectSelector: { matchExpressions: [{ key: 'clarus.io/inject', operator: 'Exists' }] },
      clientConfig: { service: { name: 'clarus-clarus-operator', namespace: 'clarus-system', port: 443 } },
    });
    expect(byKind(docs, 'ServiceMonitor')).toHaveLength(0);
    expect(byKind(docs, 'ConfigMap')).toHaveLength(0);
  });

  test('RBAC is least privilege: no wildcards, Clarus kinds read-only except status', async () => {
    const docs = await render();
    const role = one(docs, 'ClusterRole') as Manifest & { rules: Rule[] };
    for (const r of role.rules) {
      for (const field of [r.apiGroups, r.resources, r.verbs]) expect(field ?? []).not.toContain('*');
    }
    const clarusRules = role.rules.filter((r) => r.apiGroups?.includes('clarus.io'));
    for (const r of clarusRules) {
      const writes = (r.verbs ?? []).filter((v) => !['get', 'list', 'watch'].includes(v));
      if (writes.length > 0) {
        expect(r.resources?.every((res) => res.endsWith('/status') || res.endsWith('/finalizers'))).toBe(true);
      }
    }
    const webhookRule = role.rules.find((r) => r.resources?.includes('mutatingwebhookconfigurations'));
    expect(webhookRule?.resourceNames).toEqual(['clarus-clarus-operator']);
    expect(webhookRule?.verbs?.sort()).toEqual(['get', 'patch', 'update']);
    const podRule = role.rules.find((r) => r.resources?.includes('pods'));
    expect(podRule?.verbs).toEqual(['get', 'list', 'watch']);
    const leaseRole = one(docs, 'Role') as Manifest & { rules: Rule[] };
    expect(leaseRole.metadata?.namespace).toBe('clarus-system');
    expect(leaseRole.rules[0]?.resources).toEqual(['leases']);
  });

  test('values: crds.install=false, webhook.url and failurePolicy=Ignore', async () => {
    const docs = await render('--set', 'crds.install=false', '--set', 'webhook.url=https://127.0.0.1:9443/mutate-v1-pod',
      '--set', 'webhook.failurePolicy=Ignore');
    expect(byKind(docs, 'CustomResourceDefinition')).toHaveLength(0);
    const mwc = one(docs, 'MutatingWebhookConfiguration') as Manifest & { webhooks: Record<string, unknown>[] };
    expect(mwc.webhooks[0]).toMatchObject({ failurePolicy: 'Ignore',
      clientConfig: { url: 'https://127.0.0.1:9443/mutate-v1-pod' } });
    expect((mwc.webhooks[0]?.clientConfig as Record<string, unknown>).service).toBeUndefined();
  });

  test('optional monitoring: ServiceMonitor and a valid Grafana dashboard', async () => {
    const docs = await render(...allFeatures);
    const sm = one(docs, 'ServiceMonitor') as Manifest & { spec: { endpoints: { port: string }[] } };
    expect(sm.spec.endpoints[0]?.port).toBe('metrics');
    const cm = one(docs, 'ConfigMap') as Manifest & { data: Record<string, string> };
    expect(cm.metadata?.labels?.grafana_dashboard).toBe('1');
    const dashboard = JSON.parse(cm.data['clarus.json'] ?? '') as { panels: { targets?: { expr: string }[] }[] };
    const exprs = dashboard.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr).join('\n');
    expect(exprs).toContain('clarus_operator_reconciles_total');
    expect(exprs).toContain('clarus_statements_total');
    expect(byKind(docs, 'Certificate')).toHaveLength(1);
    const mwc = one(docs, 'MutatingWebhookConfiguration');
    expect(mwc.metadata?.annotations?.['cert-manager.io/inject-ca-from']).toBe('clarus-system/clarus-clarus-operator');
  });

  test('bad values are rejected with a clear message', async () => {
    const cases: [string[], RegExp][] = [
      [['--set', 'webhook.failurePolicy=Sometimes'], /failurePolicy/],
      [['--set', 'webhook.url=http://127.0.0.1:9443/x'], /webhook\.url|https/],
      [['--set', 'operator.replicas=0'], /replicas/],
      [['--set', 'unknownTopLevel=1'], /unknownTopLevel|additional properties/i],
    ];
    for (const [args, message] of cases) {
      const res = await helm.run(['template', 'clarus', chartDir, ...args]);
      expect(res.code, args.join(' ')).not.toBe(0);
      expect(res.stderr).toMatch(message);
    }
  });
});
