// Minimal types for pg-cursor (the package ships none), as used by the proxy tests.
declare module 'pg-cursor' {
  import type { Submittable } from 'pg';
  export default class Cursor<R = Record<string, unknown>> implements Submittable {
    constructor(text: string, values?: unknown[]);
    submit: Submittable['submit'];
    read(rows: number): Promise<R[]>;
    close(): Promise<void>;
  }
}
