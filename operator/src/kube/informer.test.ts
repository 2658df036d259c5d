// The informer's restart logic. The API server side is a scripted fake (a named mock): a 410 Gone
// needs etcd compaction to overtake a disconnected watch, which cannot be produced on demand.
import { describe, expect, it } from 'vitest';
import { until } from '@clarus/testing/wait.ts';
import { createLogger } from '../log.ts';
import type { KubeObject } from '../specs/types.ts';
import type { ListResult, WatchEvent } from './client.ts';
import { Informer } from './informer.ts';
import type { ListWatch } from './informer.ts';
import { Resources } from './resources.ts';

const obj = (name: string, rv: string): KubeObject => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name, namespace: 'ns', resourceVersion: rv } });

type WatchStep = { events: Array<WatchEvent<KubeObject>>; end: 'close' | 'error' | 'hang' };

/** Scripted list/watch: each call takes the next scripted answer and records its arguments. */
function fakeApi(lists: Array<ListResult<KubeObject>>, watches: WatchStep[]) {
  const calls: string[] = [];
  const api = {
    calls,
    selectors: [] as Array<string | undefined>,
    async list<T>(_t: unknown, _ns?: string, labelSelector?: string): Promise<ListResult<T>> {
      const next = lists.shift();
      api.selectors.push(labelSelector);
      calls.push(`list -> ${next?.resourceVersion}`);
      if (!next) throw new Error('no more lists scripted');
      return next as unknown as ListResult<T>;
    },
    async watch<T>(_t: unknown, opts: { resourceVersion: string; labelSelector?: string; signal: AbortSignal }, onEvent: (e: WatchEvent<T>) => void): Promise<void> {
      api.selectors.push(opts.labelSelector);
      calls.push(`watch from ${opts.resourceVersion}`);
      const step = watches.shift() ?? { events: [], end: 'hang' as const };
      for (const e of step.events) onEvent(e as unknown as WatchEvent<T>);
      if (step.end === 'error') throw new Error('connection reset');
      if (step.end === 'hang') await new Promise((resolve) => opts.signal.addEventListener('abort', resolve, { once: true }));
    },
  };
  return api as typeof api & ListWatch;
}

const silent = createLogger('error', {}, () => undefined);

describe('Informer', () => {
  it('relists after 410 Gone and reports objects that vanished meanwhile as deleted', async () => {
    const api = fakeApi(
      [{ items: [obj('a', '1'), obj('b', '2')], resourceVersion: '10' }, { items: [obj('a', '12'), obj('c', '13')], resourceVersion: '20' }],
      [{ events: [{ type: 'MODIFIED', object: obj('a', '11') }, { type: 'ERROR', object: { code: 410 } as unknown as KubeObject }], end: 'close' }],
    );
    const informer = new Informer(api, Resources.Secret, silent);
    const events: string[] = [];
    informer.start();
    await informer.waitForSync();
    informer.on((type, o) => events.push(`${type} ${o.metadata.name}@${o.metadata.resourceVersion}`));
    await until('second watch', () => api.calls.length >= 4, 20_000, 20);
    informer.stop();
    expect(api.calls).toEqual(['list -> 10', 'watch from 10', 'list -> 20', 'watch from 20']);
    expect(events).toEqual(['modified a@11', 'modified a@12', 'added c@13', 'deleted b@2']);
    expect(informer.list().map((o) => o.metadata.name).sort()).toEqual(['a', 'c']);
    expect(informer.get('ns', 'a')?.apiVersion).toBe('v1');
  });

  it('resumes from the last resourceVersion when the server closes the watch, without relisting', async () => {
    const api = fakeApi(
      [{ items: [obj('a', '1')], resourceVersion: '5' }],
      [{ events: [{ type: 'BOOKMARK', object: obj('', '7') }, { type: 'DELETED', object: obj('a', '8') }], end: 'close' }],
    );
    const informer = new Informer(api, Resources.Secret, silent);
    informer.start();
    await until('resumed watch', () => api.calls.length >= 3, 20_000, 20);
    informer.stop();
    expect(api.calls).toEqual(['list -> 5', 'watch from 5', 'watch from 8']);
    expect(informer.list()).toEqual([]);
  });

  it('relists after a broken connection, with backoff', async () => {
    const api = fakeApi(
      [{ items: [obj('a', '1')], resourceVersion: '5' }, { items: [obj('a', '1')], resourceVersion: '9' }],
      [{ events: [], end: 'error' }],
    );
    const informer = new Informer(api, Resources.Secret, silent);
    informer.start();
    await until('watch after relist', () => api.calls.length >= 4, 20_000, 20);
    informer.stop();
    expect(api.calls).toEqual(['list -> 5', 'watch from 5', 'list -> 9', 'watch from 9']);
    expect(informer.synced()).toBe(true);
  });

  it('passes its label selector to both list and watch', async () => {
    const api = fakeApi([{ items: [], resourceVersion: '1' }], []);
    const informer = new Informer(api, Resources.Deployment, silent, { labelSelector: 'app.kubernetes.io/managed-by=clarus-operator' });
    informer.start();
    await until('watch', () => api.calls.length >= 2, 20_000, 20);
    informer.stop();
    expect(api.selectors).toEqual(['app.kubernetes.io/managed-by=clarus-operator', 'app.kubernetes.io/managed-by=clarus-operator']);
  });
});
