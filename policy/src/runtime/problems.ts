// Collects render problems as validation issues (resource, field path, reason).
import type { Issue } from '../validate/issue.ts';

export class Problems {
  readonly issues: Issue[] = [];

  add(resource: string, path: string, message: string): undefined {
    // One missing Secret can be read for several files; report it once.
    if (!this.issues.some((i) => i.resource === resource && i.path === path && i.message === message)) {
      this.issues.push({ resource, path, message, severity: 'error' });
    }
    return undefined;
  }
}

/** Thrown by render() when the resources are inconsistent; issues say what and where. */
export class RenderError extends Error {
  readonly issues: Issue[];

  constructor(issues: Issue[]) {
    super(`cannot render: ${issues.map((i) => `${i.resource}: ${i.path}: ${i.message}`).join('; ')}`);
    this.name = 'RenderError';
    this.issues = issues;
  }
}
