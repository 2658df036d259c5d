// What a statement sent by a real client came to: its SQLSTATE, or undefined when it succeeded.
// An error without a SQLSTATE (a dropped socket, a client-side throw) is reported by its text, so
// a test expecting success or a given code never mistakes it for either.

/** The SQLSTATE the promise failed with; undefined when it resolved. */
export async function sqlstate(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return codeOf(e);
  }
}

/** An error's SQLSTATE, or its text when it has none. */
export function codeOf(e: unknown): string {
  return (e as { code?: string }).code ?? String(e);
}
