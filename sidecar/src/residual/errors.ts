// Typed failures of the residual stage. Each carries the SQLSTATE the proxy answers with, so the
// caller maps it to an ErrorResponse without guessing.
import { SQLSTATE } from '../protocol/sqlstate.ts';

export type ResidualLimitName = 'rows' | 'bytes' | 'resultRows';

/** A per-call bound was exceeded: answer 54000 (program_limit_exceeded), naming the limit. */
export class ResidualLimitError extends Error {
  override readonly name = 'ResidualLimitError';
  readonly code = SQLSTATE.programLimitExceeded;
  readonly limit: ResidualLimitName;
  readonly max: number;
  constructor(limit: ResidualLimitName, max: number) {
    super(limitMessage(limit, max));
    this.limit = limit;
    this.max = max;
  }
}

function limitMessage(limit: ResidualLimitName, max: number): string {
  switch (limit) {
    case 'rows': return `the in-proxy stage would load more than ${max} candidate rows (residual row limit)`;
    case 'bytes': return `the in-proxy stage would load more than ${max} bytes of candidate values (residual byte limit)`;
    case 'resultRows': return `the in-proxy stage would return more than ${max} rows (residual result row limit)`;
  }
}

/** The residual query (or loading the candidates) failed inside the engine: PostgreSQL's own error. */
export class ResidualQueryError extends Error {
  override readonly name = 'ResidualQueryError';
  /** SQLSTATE as PostgreSQL reported it. */
  readonly code: string;
  /** All ErrorResponse fields (S, C, M, D, H, P, …) for forwarding. */
  readonly fields: Readonly<Record<string, string>>;
  /** Where it failed: loading candidate rows or running the residual query. */
  readonly stage: 'load' | 'query';
  constructor(fields: Readonly<Record<string, string>>, stage: 'load' | 'query') {
    super(fields.M ?? 'residual query failed');
    this.code = fields.C ?? SQLSTATE.internalError;
    this.fields = fields;
    this.stage = stage;
  }
}

/** The call asks for something the residual stage does not do (a column type, a bad name): 0A000. */
export class ResidualUnsupportedError extends Error {
  override readonly name = 'ResidualUnsupportedError';
  readonly code = SQLSTATE.featureNotSupported;
}
