// Where status finds the proxies' metrics endpoints, and how it reads refusals by reason.
import { describe, expect, it } from 'vitest';
import type { ClarusProxy } from '@clarus/crds/types.ts';
import { byReason, podEndpoints, sliceEndpoints, statusEndpointsTable } from './endpoints.ts';

describe('metrics endpoints of a proxy', () => {
  it('takes every address of the peers Service\'s slices at the port named metrics, named by pod', () => {
    const slices = [
      { ports: [{ name: 'metrics', port: 9187 }], endpoints: [{ addresses: ['10.1.0.7'], targetRef: { kind: 'Pod', name: 'p-b' } }, { addresses: ['10.1.0.5'] }] },
      { ports: [{ name: 'metrics', port: 9187 }], endpoints: [{ addresses: ['fd00::9'], targetRef: { kind: 'Pod', name: 'p-a' } }] },
      { ports: [{ name: 'postgres', port: 5432 }], endpoints: [{ addresses: ['10.1.0.8'] }] },
    ];
    expect(sliceEndpoints('p', slices)).toEqual([
      { proxy: 'p', name: '10.1.0.5', url: 'http://10.1.0.5:9187' },
      { proxy: 'p', name: 'p-a', url: 'http://[fd00::9]:9187' },
      { proxy: 'p', name: 'p-b', url: 'http://10.1.0.7:9187' },
    ]);
  });

  it('takes injected pods at their pod IP and the proxy\'s metrics port; pods without an IP yet are left out', () => {
    const proxy = { metadata: { name: 's' }, spec: { policyRef: { name: 'x' }, mode: 'Sidecar', metrics: { port: 9999 } } } as unknown as ClarusProxy;
    expect(podEndpoints(proxy, [{ metadata: { name: 'app-1' }, status: { podIP: '10.2.0.1' } }, { metadata: { name: 'app-2' }, status: {} }]))
      .toEqual([{ proxy: 's', name: 'app-1', url: 'http://10.2.0.1:9999' }]);
  });

  it('sums series by code and reason, most frequent first, leaving out zeros', () => {
    const text = ['# HELP clarus_refusals_recent x', 'clarus_refusals_recent{code="0A000",reason="function"} 2', 'clarus_refusals_recent{code="42501",reason="accessDenied"} 5',
      'clarus_refusals_recent{code="0A000",reason="cast"} 0', 'clarus_refusals_total{code="0A000",reason="function"} 9'].join('\n');
    expect(byReason(text, 'clarus_refusals_recent')).toEqual([{ code: '42501', reason: 'accessDenied', n: 5 }, { code: '0A000', reason: 'function', n: 2 }]);
  });

  it('shows each pod\'s configuration hash, stale only when the operator rendered another', () => {
    const metrics = 'clarus_config_generation 3\nclarus_config_info{hash="sha256:aaaaaaaaaaaaaaaaaaaa"} 1\n';
    const row = (rendered?: string) => statusEndpointsTable([{ proxy: 'p', name: 'p-a', url: 'http://x', ready: 'yes', metrics, ...(rendered ? { rendered } : {}) }])
      .split('\n')[1]?.split(/\s{2,}/).slice(3, 5);
    expect(row('sha256:aaaaaaaaaaaaaaaaaaaa')).toEqual(['3', 'sha256:aaaaaaaaaaaa']);
    expect(row(undefined)).toEqual(['3', 'sha256:aaaaaaaaaaaa']);
    expect(row('sha256:bbbb')).toEqual(['3', 'sha256:aaaaaaaaaaaa (stale)']);
  });
});
