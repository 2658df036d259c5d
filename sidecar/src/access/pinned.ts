// Session settings the analysis depends on, pinned at connection start while a policy protects
// data. The proxy lexes SQL as UTF-8 with standard_conforming_strings on (as libpg-query does) and
// resolves unqualified names as PostgreSQL does with the default search_path; so the backend
// session is started with exactly those values, whatever the client asked for, and the client may
// not ask otherwise (StartupMessage parameters, `options=-c …`, SET: see rewrite/statements.ts).
// As startup parameters they are also what RESET / RESET ALL / DISCARD ALL return to, and they
// override ALTER ROLE / ALTER DATABASE … SET defaults (which the proxy refuses anyway).
import { PINNED_SETTINGS } from '../rewrite/statements.ts';
import { safeEncoding } from '../session/settings.ts';

export const PINNED_STARTUP: Readonly<Record<string, string>> = {
  client_encoding: 'UTF8',
  standard_conforming_strings: 'on',
  search_path: '"$user", public',
};

/** Settings a client may not set through `options` or StartupMessage parameters. */
const PINNED_NAMES = Object.keys(PINNED_SETTINGS);

export type StartupDecision = { ok: true; params: Record<string, string> } | { ok: false; message: string };

function normalized(name: string): string {
  return name.toLowerCase().replace(/[-\s]/g, '_');
}

function checkOptions(options: string): string | null {
  // `options` holds command-line switches (-c name=value, --name=value); backslash escapes spaces.
  const text = options.replace(/\\(.)/g, '$1').toLowerCase().replace(/-/g, '_');
  const hit = PINNED_NAMES.find((n) => text.includes(n));
  return hit ? `clarus: the startup option ${hit} is pinned by the proxy while a policy protects data` : null;
}

function checkParam(name: string, value: string): string | null {
  const n = normalized(name);
  if (n === 'client_encoding') return safeEncoding(value) ? null : `clarus: client_encoding ${value} is not supported while a policy protects data; use UTF8`;
  if (n === 'options') return checkOptions(value);
  const pinned = PINNED_STARTUP[n];
  if (pinned !== undefined) return value.trim().toLowerCase() === pinned.toLowerCase() ? null : `clarus: ${n} is pinned to ${pinned} by the proxy while a policy protects data`;
  if (PINNED_NAMES.includes(n)) return `clarus: ${n} cannot be set at connection start while a policy protects data`;
  return null;
}

/**
 * The parameters to start the backend session with, from the client's (already without user,
 * database and protocol extensions). `protecting` = the policy protects at least one dataset.
 */
export function backendStartupParams(client: Record<string, string>, protecting: boolean): StartupDecision {
  if (!protecting) return { ok: true, params: client };
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(client)) {
    const refusal = checkParam(k, v);
    if (refusal) return { ok: false, message: refusal };
    if (PINNED_STARTUP[normalized(k)] === undefined) params[k] = v;
  }
  return { ok: true, params: { ...params, ...PINNED_STARTUP } };
}
