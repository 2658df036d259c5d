// @clarus/crds, the API: the four kinds' types and schema. Nothing here depends on another package.
export * from './types.ts';
