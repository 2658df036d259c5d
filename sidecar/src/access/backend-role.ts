// Which backend role a session logs in with (docs/security-model.md, Least-privilege backend setup).
// A user with at least one valid readWrite grant gets the backend's read-write role; everyone else
// (only read grants, expired grants, no grants) gets its read-only role, so the database itself
// refuses their writes even where the proxy's grant check does not reach (tables no dataset names).
// A backend without a read-only role keeps using the read-write role for every session.
import type { BackendSecrets } from '../config/load.ts';
import { mayWrite } from './grants.ts';
import type { Grants } from './grants.ts';

export type BackendRole = 'readWrite' | 'read';

/** The role a user's grants call for at `now` (expired grants do not count, as in effectiveGrant). */
export function sessionRole(grants: Grants, now: Date): BackendRole {
  return mayWrite(grants, now) ? 'readWrite' : 'read';
}

/** The credentials to log in with for `role`: the read-only ones when the backend has them. */
export function roleCredentials(b: BackendSecrets, role: BackendRole): BackendSecrets {
  if (role === 'readWrite' || !b.readOnly) return b;
  return { ...b, username: b.readOnly.username, password: b.readOnly.password };
}
