// @clarus/policy: the runtime configuration contract, the rules a set of resources must follow,
// gathering a proxy's inputs, and render. Pure: no sockets, files or clocks.
export * from './runtime/config.ts';
export { render, RenderError, type RenderInput, type RenderOutput, type RenderedFile } from './runtime/render.ts';
export { selectForProxy, proxiesOf } from './runtime/select.ts';
export { gatherInputs, lookupOf, type Gathered, type Lookup, type ResourceSet } from './inputs.ts';
export { placementIssues, policyIssues, tableKey, type RuleIssue } from './rules/securitypolicy.ts';
export { parseKeyring, KEYRING_CURRENT_ANNOTATION, type KeyringKey } from './runtime/keyring.ts';
export { secretKeyFor } from './runtime/secrets.ts';
export { noReadOnlyRoleMessage, readOnlyRoleWarning, READ_ONLY_ROLE_FIELD } from './runtime/roles.ts';
export { scramVerifier } from './runtime/scram.ts';
export type { Issue } from './validate/issue.ts';
