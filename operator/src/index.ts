// @clarus/operator: the `clarus operator` entry point and the pure builders other tools may reuse
// (e.g. to preview the objects a ClarusProxy would get).
export { main } from './cli.ts';
export * from './specs/index.ts';
export { renderProxy } from './render.ts';
export { gatherInputs, type Lookup } from '@clarus/policy/inputs.ts';
export type { RenderInput as ProxyInputs } from '@clarus/policy/runtime/render.ts';
