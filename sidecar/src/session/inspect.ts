// The decoding path of a session, used when the pipeline is not pass-through: it hands Query and
// Parse to the pipeline, applies rewrites and refusals, and keeps a queue of the answers the
// backend owes (one entry per forwarded message) so that each RowDescription/DataRow/CopyData is
// transformed by the transformer of the statement it belongs to, and locally generated refusals
// reach the client in protocol order. See pipeline.ts for the contract.
//
// The Inspector is built in layers, one file each: inspect-state.ts (the queue, names, refusals),
// inspect-client.ts (client → backend), inspect-backend.ts (backend → client), inspect-stage.ts
// (two-stage statements, the session's own statements before a COMMIT, writes that compute).
import { InspectorStage } from './inspect-stage.ts';

export { REFUSAL_SQL, REFUSED_NAME } from './inspect-state.ts';

export class Inspector extends InspectorStage {}
