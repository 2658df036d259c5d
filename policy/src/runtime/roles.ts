// The two backend roles of a CloudBackend (docs/security-model.md, Least-privilege backend setup):
// the read-write role of spec.credentialsSecretRef and the optional read-only role of
// spec.readOnlyCredentialsSecretRef. `clarus policy validate` and the operator warn, with the same
// words, about a backend that has no read-only role.
import type { CloudBackend } from '@clarus/crds/types.ts';

export const READ_ONLY_ROLE_FIELD = 'spec.readOnlyCredentialsSecretRef';

export function noReadOnlyRoleMessage(backend: string): string {
  return `backend ${backend} has no read-only role: read-only grants use the read-write role, so a miss in the proxy could let a read grant write`;
}

/** The warning for a backend without a read-only role, or undefined when it has one. */
export function readOnlyRoleWarning(backend: Pick<CloudBackend, 'metadata' | 'spec'>): string | undefined {
  return backend.spec.readOnlyCredentialsSecretRef ? undefined : noReadOnlyRoleMessage(backend.metadata.name);
}
