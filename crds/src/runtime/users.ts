// AccessGrants → RuntimeUsers (+ their SCRAM verifier files).
import type { AccessGrant, SecretManifest } from '../types.ts';
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

function addUser(users: Map<string, RuntimeUser & { pw?: string }>, g: AccessGrant, ctx: UserCtx): void {
  const s = g.spec.subject;
  const id = `AccessGrant/${ctx.namespace}/${g.metadata.name}`;
  const name = s.user ?? s.externalProxy?.name ?? '';
  const kind: RuntimeUser['kind'] = s.user ? 'user' : 'externalProxy';
  const pw = kind === 'user' ? passwordOf(g, ctx) : undefined;
  const existing = users.get(name);
  if (!existing) {
    const u: RuntimeUser & { pw?: string } = { name, kind, grants: [grantEntry(g)] };
    if (kind === 'externalProxy') u.certificateSubject = s.externalProxy?.certificateSubject ?? '';
    if (pw !== undefined) u.pw = pw;
    users.set(name, u);
    return;
  }
  if (existing.kind !== kind) ctx.problems.add(id, 'spec.subject', `${name} is a ${existing.kind} in another grant`);
  else if (kind === 'user' && pw !== undefined && existing.pw !== undefined && existing.pw !== pw) ctx.problems.add(id, 'spec.subject.passwordSecretRef', `user ${name} has a different password in grant ${existing.grants[0]?.grant}`);
  else if (kind === 'externalProxy' && existing.certificateSubject !== s.externalProxy?.certificateSubject) ctx.problems.add(id, 'spec.subject.externalProxy.certificateSubject', `external proxy ${name} has a different certificate subject in grant ${existing.grants[0]?.grant}`);
  existing.grants.push(grantEntry(g));
}

export function renderUsers(grants: AccessGrant[], ctx: UserCtx): { users: RuntimeUser[]; files: UserFile[] } {
  const users = new Map<string, RuntimeUser & { pw?: string }>();
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
