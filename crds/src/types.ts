// The four custom resources of clarus.io/v1alpha1, as TypeScript types.
// CONTRACT NOTE: this file is the hand-written seed of the API (see shared/design/API.md). The API
// issue replaces it with types generated from the schema source (`make generate`), keeping every
// exported name below so the operator and proxy code written against it keeps compiling.

export const GROUP = 'clarus.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

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

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type AttributeType = 'identifier' | 'quasiIdentifier' | 'confidential' | 'nonConfidential' | 'technicalIdentifier';
export type EncryptMode = 'randomized' | 'deterministic';

export interface EncryptProtection { mode: EncryptMode; searchable?: boolean; keyName?: string }
export interface AnonymizeProtection {
  suppress?: { value?: string | null };
  mask?: { keepFirst?: number; keepLast?: number; char?: string; format?: 'email' };
  pseudonymize?: { keyName?: string; format?: 'hex' | 'uuid' | 'preserveShape' };
  generalize?: { step?: number; truncate?: 'month' | 'year'; keepPrefix?: number; gridMeters?: number };
  noise?: { distribution: 'laplace' | 'gaussian'; scale?: number; epsilon?: number; sensitivity?: number };
  kAnonymity?: { k: number; tCloseness?: number };
}
export interface SplitProtection { backend: string }
export interface Protection { encrypt?: EncryptProtection; anonymize?: AnonymizeProtection; split?: SplitProtection }

export interface ColumnSpec { name: string; attributeType: AttributeType; protection?: Protection }
export interface DatasetSpec { name: string; table: string; rowKey?: string; columns: ColumnSpec[] }

export interface SecurityPolicySpec {
  backends: string[];
  keyring: { secretName: string };
  onUnsupported?: 'reject' | 'passthroughUnprotected';
  attributeTypes?: Partial<Record<AttributeType, Protection>>;
  datasets: DatasetSpec[];
}
export interface SecurityPolicyStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  protectedColumns?: number;
  hash?: string;
}

export type TlsMode = 'disable' | 'require' | 'verify-ca' | 'verify-full';
export interface SecretKeyRef { name: string; key?: string }
export interface CloudBackendSpec {
  host: string;
  port?: number;
  database: string;
  credentialsSecretRef: { name: string };
  tls?: { mode: TlsMode; caSecretRef?: SecretKeyRef };
  pool?: { maxConnections?: number };
}
export interface CloudBackendStatus { conditions?: Condition[]; observedGeneration?: number }

export interface ClarusProxySpec {
  policyRef: { name: string };
  mode?: 'Deployment' | 'Sidecar';
  replicas?: number;
  autoscaling?: { minReplicas?: number; maxReplicas: number; targetCPUUtilizationPercentage?: number };
  service?: { port?: number; sessionAffinity?: 'ClientIP' | 'None'; sessionAffinityTimeoutSeconds?: number };
  tls?: { secretName: string };
  upstream?: { host: string; port?: number; tls?: { secretName: string } };
  image?: string;
  resources?: Record<string, unknown>;
}
export interface ClarusProxyStatus {
  conditions?: Condition[];
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  selector?: string;
  endpoint?: string;
  policyHash?: string;
}

export type Access = 'read' | 'readWrite';
export type View = 'plaintext' | 'masked' | 'protected';
export interface AccessGrantSpec {
  proxyRef: { name: string };
  subject: {
    user?: string;
    passwordSecretRef?: SecretKeyRef;
    externalProxy?: { name: string; certificateSubject: string };
  };
  datasets: string[];
  access: Access;
  view: View;
  expires?: string;
}
export interface AccessGrantStatus { conditions?: Condition[]; observedGeneration?: number }

interface Resource<K extends string, S, St> { apiVersion: typeof API_VERSION; kind: K; metadata: ObjectMeta; spec: S; status?: St }
export type SecurityPolicy = Resource<'SecurityPolicy', SecurityPolicySpec, SecurityPolicyStatus>;
export type CloudBackend = Resource<'CloudBackend', CloudBackendSpec, CloudBackendStatus>;
export type ClarusProxy = Resource<'ClarusProxy', ClarusProxySpec, ClarusProxyStatus>;
export type AccessGrant = Resource<'AccessGrant', AccessGrantSpec, AccessGrantStatus>;
export type ClarusResource = SecurityPolicy | CloudBackend | ClarusProxy | AccessGrant;

/** A core/v1 Secret as read from a manifest or the API server (data is base64, stringData plain). */
export interface SecretManifest {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: ObjectMeta;
  type?: string;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
}
