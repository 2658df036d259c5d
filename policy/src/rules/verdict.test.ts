// The CRD's rules (schema + CEL through cel-js, what the API server enforces) and the TypeScript rule
// set give the same verdict on every policy of the corpus, apart from the differences it declares
// with their reasons (policy/test/verdict-cases.ts). The same corpus runs against the real
// kube-apiserver in policy/test/integration/apiserver.test.ts.
import { describe, expect, it } from 'vitest';
import type { ObjectMeta, SecurityPolicySpec } from '@clarus/crds/types.ts';
import { checkResource } from '../validate/resource.ts';
import { policyIssues } from './securitypolicy.ts';
import { expectedVerdict, verdictCases, verdictManifest } from '../../test/verdict-cases.ts';

describe('CRD rules and TypeScript rules: the same verdict', () => {
  it.each(verdictCases.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const checked = checkResource(verdictManifest(c));
    const api = checked.issues.length > 0;
    const ts = policyIssues(checked.object.spec as SecurityPolicySpec, checked.object.metadata as ObjectMeta).length > 0;
    expect([api, ts], JSON.stringify({ api: checked.issues, ts: policyIssues(checked.object.spec as SecurityPolicySpec, checked.object.metadata as ObjectMeta) })).toEqual(expectedVerdict(c));
  });

  it('every TypeScript rule is exercised by a case that the TypeScript rules refuse', () => {
    const messages = verdictCases.flatMap((c) => {
      const o = checkResource(verdictManifest(c)).object;
      return policyIssues(o.spec as SecurityPolicySpec, o.metadata as ObjectMeta).map((i) => i.message.replace(/\b(patients|p2|zip|age|name|nope|b|a|c|id|public\.\w+|Patient)\b/g, '…'));
    });
    expect(new Set(messages).size).toBeGreaterThanOrEqual(9);
  });
});
