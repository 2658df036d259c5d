// The four custom resources of clarus.io/v1alpha1, as TypeScript types.
// The spec/status types are GENERATED from the schema source (crds/src/schema, `make generate`) into
// crds/src/generated/types.ts and re-exported here; this file adds the object envelope (metadata,
// apiVersion, kind) and the core/v1 Secret shape. Every name of the original contract seed is kept.

import type {
  AccessGrantSpec, AccessGrantStatus, ClarusProxySpec, ClarusProxyStatus, CloudBackendSpec, CloudBackendStatus,
  SecurityPolicySpec, SecurityPolicyStatus,
} from './generated/types.ts';

export type * from './generated/types.ts';

export const GROUP = 'clarus.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

/** Annotation of a keyring Secret naming the version new writes use per key ("default=2,pii=1"). */
export const KEYRING_CURRENT_ANNOTATION = 'clarus.io/keyring-current';

/**
 * Annotation of a SecurityPolicy printed by `clarus policy import --partial`: what the policy
 * protects less than its CLARUS source. Every validator refuses the policy while it is present.
 */
export const IMPORT_PARTIAL_ANNOTATION = 'clarus.io/import-partial';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  creationTimestamp?: string;
}

interface Resource<K extends string, S, St> { apiVersion: typeof API_VERSION; kind: K; metadata: ObjectMeta; spec: S; status?: St }
export type SecurityPolicy = Resource<'SecurityPolicy', SecurityPolicySpec, SecurityPolicyStatus>;
export type CloudBackend = Resource<'CloudBackend', CloudBackendSpec, CloudBackendStatus>;
export type ClarusProxy = Resource<'ClarusProxy', ClarusProxySpec, ClarusProxyStatus>;
export type AccessGrant = Resource<'AccessGrant', AccessGrantSpec, AccessGrantStatus>;
export type ClarusResource = SecurityPolicy | CloudBackend | ClarusProxy | AccessGrant;
export type ClarusKind = ClarusResource['kind'];

/** A core/v1 Secret as read from a manifest or the API server (data is base64, stringData plain). */
export interface SecretManifest {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
