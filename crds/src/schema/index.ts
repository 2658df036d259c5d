// The API's single source: the four kinds and the CustomResourceDefinitions built from them.
import { accessGrant } from './accessgrant.ts';
import { clarusProxy } from './clarusproxy.ts';
import { cloudBackend } from './cloudbackend.ts';
import type { KindDef } from './common.ts';
import { obj, str, type Schema } from './props.ts';
import { securityPolicy } from './securitypolicy.ts';

export const GROUP = 'clarus.io';
export const VERSION = 'v1alpha1';
export const CATEGORIES = ['clarus'];

export const KINDS: readonly KindDef[] = [securityPolicy, cloudBackend, clarusProxy, accessGrant];

export function kindDef(kind: string): KindDef | undefined {
  return KINDS.find((k) => k.kind === kind);
}

/** The schema of a whole object of this kind (what the apiserver validates). */
export function objectSchema(def: KindDef): Schema {
  return obj(def.description, {
    apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
    kind: str('Kind is a string value representing the REST resource this object represents.'),
    // The apiserver allows nothing but `type: object` here (not even a description).
    metadata: { type: 'object' },
    spec: def.spec,
    status: def.status,
  }, { required: ['spec'] });
}

export interface CustomResourceDefinition {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels: Record<string, string> };
  spec: Record<string, unknown>;
}

export function crd(def: KindDef): CustomResourceDefinition {
  const subresources: Record<string, unknown> = { status: {} };
  if (def.scale) subresources.scale = def.scale;
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${def.plural}.${GROUP}`, labels: { 'app.kubernetes.io/part-of': 'clarus' } },
    spec: {
      group: GROUP,
      names: {
        kind: def.kind, listKind: `${def.kind}List`, plural: def.plural, singular: def.singular,
        shortNames: def.shortNames, categories: CATEGORIES,
      },
      scope: 'Namespaced',
      versions: [{
        name: VERSION, served: true, storage: true,
        schema: { openAPIV3Schema: objectSchema(def) },
        subresources,
        additionalPrinterColumns: def.printerColumns,
      }],
    },
  };
}

export { accessGrant, clarusProxy, cloudBackend, securityPolicy };
export type { KindDef, Schema };
