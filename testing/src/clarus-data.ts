// Where the CLARUS project's own test data and published policies are: `../shared/data/clarus`
// next to the project's folder (the workplace's layout, also a CI clone's), or the workplace's
// absolute path when the clone sits elsewhere. One place for every test and benchmark.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';

const besideClone = resolve(import.meta.dirname, '..', '..', '..', 'shared', 'data', 'clarus');

export const CLARUS_DATA = existsSync(besideClone) ? besideClone : '/work/shared/data/clarus';

/** A file of the CLARUS data folder (data_clarus2.txt, meuse2.txt, boreholes2.txt, policies/…). */
export const clarusFile = (name: string): string => join(CLARUS_DATA, name);
