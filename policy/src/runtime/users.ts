// AccessGrants → RuntimeUsers (+ their SCRAM verifier files).
import type { AccessGrant, SecretManifest } from '@clarus/crds/types.ts';
import type { RuntimeUser } from './config.ts';
import { deterministicSalt, scramVerifier } from './scram.ts';
import { secretText } from './secrets.ts';
import type { Problems } from './problems.ts';

export interface UserFile { path: string; content: string }

function findSecret(secrets: SecretManifest[], name: string): SecretManifest | undefined {
  return secrets.find((s) => s.metadata.name === name);
}

function grantEntry(g: AccessGrant): RuntimeUser['grants'][number] {
  const e: RuntimeUser['grants'][number] = { grant: g.metadata.name, datasets: [...g.spec.datasets].sort(), access: g.spec.access, view: g.spec.view };
  if (g.spec.expires) e.expires = g.spec.expires;
  return e;
}

interface UserCtx { secrets: SecretManifest[]; saltKey: Buffer | undefined; namespace: string; problems: Problems }

function passwordOf(g: AccessGrant, ctx: UserCtx): string | undefined {
  const ref = g.spec.subject.passwordSecretRef;
  if (!ref) return undefined;
  const id = `AccessGrant/${ctx.namespace}/${g.metadata.name}`;
  const secret = findSecret(ctx.secrets, ref.name);
  const key = ref.key ?? 'password';
  if (!secret) return ctx.problems.add(id, 'spec.subject.passwordSecretRef.name', `Secret ${ref.name} not found`);
  const pw = secretText(secret, key);
  if (pw === undefined || pw === '') return ctx.problems.add(id, 'spec.subject.passwordSecretRef.key', `Secret ${ref.name} has no key ${key}`);
  return pw;
}

type Pending = RuntimeUser & { pw?: string };

function newUser(g: AccessGrant, name: string, pw: string | undefined): Pending {
  const s = g.spec.subject;
  const u: Pending = { name, kind: s.user ? 'user' : 'externalProxy', grants: [grantEntry(g)] };
  if (s.externalProxy) u.certificateSubject = s.externalProxy.certificateSubject;
  if (pw !== undefined) u.pw = pw;
  return u;
}

/** Why a second grant for the same name cannot be merged into the first, if it cannot. */
function conflict(existing: Pending, g: AccessGrant, pw: string | undefined): { path: string; message: string } | undefined {
  const s = g.spec.subject;
  const other = existing.grants[0]?.grant;
  if (existing.kind !== (s.user ? 'user' : 'externalProxy')) return { path: 'spec.subject', message: `${existing.name} is a ${existing.kind} in grant ${other}` };
  if (s.user && pw !== undefined && existing.pw !== undefined && existing.pw !== pw) {
    return { path: 'spec.subject.passwordSecretRef', message: `user ${existing.name} has a different password in grant ${other}` };
  }
  if (s.externalProxy && existing.certificateSubject !== s.externalProxy.certificateSubject) {
    return { path: 'spec.subject.externalProxy.certificateSubject', message: `external proxy ${existing.name} has a different certificate subject in grant ${other}` };
  }
  return undefined;
}

function addUser(users: Map<string, Pending>, g: AccessGrant, ctx: UserCtx): void {
  const name = g.spec.subject.user ?? g.spec.subject.externalProxy?.name ?? '';
  const pw = g.spec.subject.user ? passwordOf(g, ctx) : undefined;
  const existing = users.get(name);
  if (!existing) return void users.set(name, newUser(g, name, pw));
  const c = conflict(existing, g, pw);
  if (c) ctx.problems.add(`AccessGrant/${ctx.namespace}/${g.metadata.name}`, c.path, c.message);
  else existing.grants.push(grantEntry(g));
}

export function renderUsers(grants: AccessGrant[], ctx: UserCtx): { users: RuntimeUser[]; files: UserFile[] } {
  const users = new Map<string, Pending>();
  for (const g of [...grants].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name))) addUser(users, g, ctx);
  const files: UserFile[] = [];
  const out: RuntimeUser[] = [];
  for (const { pw, ...u } of [...users.values()].sort((a, b) => a.name.localeCompare(b.name))) {
    if (pw !== undefined && ctx.saltKey) {
      u.verifierFile = `secrets/users/${u.name}.scram`;
      files.push({ path: u.verifierFile, content: scramVerifier(pw, deterministicSalt(ctx.saltKey, `${ctx.namespace}/${u.name}`, pw)) });
    }
    out.push(u);
  }
  return { users: out, files };
}
