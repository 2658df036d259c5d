import { describe, expect, it } from 'vitest';
import { createMetrics } from './metrics.ts';
import { countRefusal, refusalCounts } from './refusals.ts';

const lines = (text: string, prefix: string) => text.split('\n').filter((l) => l.startsWith(prefix));

describe('hot-path metrics (counted in plain numbers, flushed on scrape)', () => {
  it('adds statements and bytes to the prom-client counters at each scrape, once', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recorder.statement('simple', 'ok', 0.0007);
    m.recorder.statement('simple', 'ok', 0.002);
    m.recorder.statement('extended', 'refused', 0.02);
    m.recorder.bytesFromClient += 10;
    m.recorder.bytesFromBackend += 7;
    const first = await m.registry.metrics();
    expect(lines(first, 'clarus_statements_total{')).toEqual([
      'clarus_statements_total{type="simple",outcome="ok"} 2',
      'clarus_statements_total{type="extended",outcome="refused"} 1',
    ]);
    expect(lines(first, 'clarus_bytes_total{')).toEqual([
      'clarus_bytes_total{direction="client_to_proxy"} 10',
      'clarus_bytes_total{direction="backend_to_proxy"} 7',
    ]);
    m.recorder.statement('simple', 'error', 0.001);
    m.recorder.bytesFromClient += 5;
    const second = await m.registry.metrics();
    expect(lines(second, 'clarus_statements_total{type="simple"')).toEqual([
      'clarus_statements_total{type="simple",outcome="ok"} 2',
      'clarus_statements_total{type="simple",outcome="error"} 1',
    ]);
    expect(lines(second, 'clarus_bytes_total{direction="client_to_proxy"}')).toEqual(['clarus_bytes_total{direction="client_to_proxy"} 15']);
  });

  it('renders the duration histogram with cumulative buckets, sum and count per observed type', async () => {
    const m = createMetrics({ defaultMetrics: false });
    m.recorder.statement('extended', 'ok', 0.0004);
    m.recorder.statement('extended', 'ok', 0.003);
    m.recorder.statement('extended', 'error', 60);
    const text = await m.registry.metrics();
    expect(text).toContain('# TYPE clarus_statement_duration_seconds histogram');
    expect(text).toContain('clarus_statement_duration_seconds_bucket{le="0.0005",type="extended"} 1');
    expect(text).toContain('clarus_statement_duration_seconds_bucket{le="0.0025",type="extended"} 1');
    expect(text).toContain('clarus_statement_duration_seconds_bucket{le="0.005",type="extended"} 2');
    expect(text).toContain('clarus_statement_duration_seconds_bucket{le="10",type="extended"} 2');
    expect(text).toContain('clarus_statement_duration_seconds_bucket{le="+Inf",type="extended"} 3');
    expect(text).toContain('clarus_statement_duration_seconds_count{type="extended"} 3');
    expect(text).toMatch(/clarus_statement_duration_seconds_sum\{type="extended"\} 60\.003/);
    expect(text).not.toContain('type="simple"');
    m.registry.resetMetrics();
    expect(await m.registry.metrics()).not.toContain('clarus_statement_duration_seconds_bucket');
  });
});

describe('refusals by SQLSTATE and reason', () => {
  it('counts every refusal since the start, and those of the last 15 minutes', () => {
    // Series of their own (the counts are per process): the clock is the caller's.
    const t0 = Date.UTC(2026, 11, 1, 10, 0, 0);
    countRefusal('0A001', 'testReasonA', t0);
    countRefusal('0A001', 'testReasonA', t0 + 60_000);
    countRefusal('0A001', 'testReasonB', t0 + 5 * 60_000);
    const at = (ms: number) => refusalCounts(ms).filter((r) => r.code === '0A001').sort((a, b) => a.reason.localeCompare(b.reason));
    expect(at(t0 + 5 * 60_000)).toEqual([{ code: '0A001', reason: 'testReasonA', total: 2, recent: 2 }, { code: '0A001', reason: 'testReasonB', total: 1, recent: 1 }]);
    // 15 minutes after the first one it is no longer recent; the total stays.
    expect(at(t0 + 15 * 60_000)).toEqual([{ code: '0A001', reason: 'testReasonA', total: 2, recent: 1 }, { code: '0A001', reason: 'testReasonB', total: 1, recent: 1 }]);
    expect(at(t0 + 21 * 60_000)).toEqual([{ code: '0A001', reason: 'testReasonA', total: 2, recent: 0 }, { code: '0A001', reason: 'testReasonB', total: 1, recent: 0 }]);
  });

  it('exposes both as labelled series on scrape', async () => {
    countRefusal('0A002', 'testReasonC', Date.now());
    const text = await createMetrics({ defaultMetrics: false }).registry.metrics();
    expect(lines(text, 'clarus_refusals_total{code="0A002"')).toEqual(['clarus_refusals_total{code="0A002",reason="testReasonC"} 1']);
    expect(lines(text, 'clarus_refusals_recent{code="0A002"')).toEqual(['clarus_refusals_recent{code="0A002",reason="testReasonC"} 1']);
  });
});
