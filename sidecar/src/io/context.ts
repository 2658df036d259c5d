// What every client session shares with its proxy instance.
import type { SecureContext } from 'node:tls';
import type { ConfigSnapshot } from '../config/load.ts';
import type { Logger } from '@clarus/log/logger.ts';
import type { ProxyMetrics, StatementRecorder } from '../metrics/metrics.ts';
import type { PipelineFactory } from '../session/pipeline.ts';
import type { BackendSecrets } from '../config/load.ts';
import type { CancelKeys } from './cancel.ts';

/**
 * Where a cancel for a session must go: its backend and the backend's own key; `also`, asked when
 * a cancel comes: the other backend connections working for the session at that moment (split
 * tables' fragments), and whether the session's backend gets it too (`self`: not when the proxy
 * itself is answering the statement and stopped it, Relay.cancelRequested).
 */
export interface CancelTarget {
  backend: BackendSecrets; processId: number; secretKey: number;
  also?: () => { self: boolean; others: ReadonlyArray<CancelTarget> };
  /** Told the cancel to this target is under way (`p` settles once the backend took it or it failed). */
  delivered?: (p: Promise<void>) => void;
}

export interface ProxyContext {
  snapshot(): ConfigSnapshot;
  /** TLS context for clients of the current configuration, or null when TLS is not configured. */
  clientTls(): SecureContext | null;
  metrics: ProxyMetrics;
  statementRecorder: StatementRecorder;
  log: Logger;
  cancelKeys: CancelKeys<CancelTarget>;
  pipelineFactory: PipelineFactory;
  /** Open backend connections per backend name (bounded by the backend's pool.maxConnections). */
  backendCounts: Map<string, number>;
  /** Client sessions past the startup packet (bounded by limits.maxConnections). */
  activeSessions(): number;
  draining(): boolean;
  /** This process's part of a connection limit (the whole of it, unless it is one of several workers). */
  share(limit: number): number;
}
