// Minimal shapes of the Kubernetes objects the builders produce. They are plain JSON documents sent
// with server-side apply, so only the fields the operator owns are spelled out.
import type { ClarusProxy } from '@clarus/crds';
import type { RuntimeConfig } from '@clarus/policy';

export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller: boolean;
  blockOwnerDeletion: boolean;
}

export interface Meta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  ownerReferences?: OwnerReference[];
  uid?: string;
  resourceVersion?: string;
  generation?: number;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  [field: string]: unknown;
}

/** One secret file of the rendered configuration: `path` inside the config dir, `secretKey` in the Secret. */
export interface RenderedFile { path: string; content: string; secretKey: string }
export interface Rendered { config: RuntimeConfig; files: RenderedFile[] }

/** Operator-wide settings the builders need (from command-line flags, not from the resource). */
export interface BuildOptions {
  defaultImage: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
}

export interface BuildInput { proxy: ClarusProxy; rendered: Rendered; options: BuildOptions }
