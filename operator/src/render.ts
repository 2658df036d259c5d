// Adapter from the policy package's pure render function (policy/src/runtime/render.ts) to the reconciler's
// RenderFn: a RenderError becomes a PolicyRendered=False condition instead of an exception.
import { RenderError, render } from '@clarus/policy/runtime/render.ts';
import type { RenderFn, RenderOutcome } from './controllers/context.ts';
import { Reason } from './controllers/conditions.ts';
import type { RenderInput as ProxyInputs } from '@clarus/policy/runtime/render.ts';

const MAX_MESSAGE = 2000;

export const renderProxy: RenderFn = (inputs: ProxyInputs): RenderOutcome => {
  try {
    return { ok: true, rendered: render(inputs) };
  } catch (error) {
    if (!(error instanceof RenderError)) throw error;
    const message = error.issues.map((i) => `${i.resource}: ${i.path}: ${i.message}`).join('; ');
    return { ok: false, reason: Reason.RenderFailed, message: message.slice(0, MAX_MESSAGE) };
  }
};
