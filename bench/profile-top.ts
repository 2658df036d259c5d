// `node bench/profile-top.ts PROFILE [WINDOWS] [N]`: the N (40) functions with the most self and
// inclusive time in a V8 CPU profile (`node --cpu-prof`), idle time left out. WINDOWS, a JSON list
// of [start, end] monotonic-clock µs (bench/enc-ab.ts with AB_PROFILE=1), keeps only the samples
// taken inside them (the measured runs, not the setup).
import { readFileSync } from 'node:fs';

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] }

const [file, windowsFile, n] = process.argv.slice(2);
if (!file) throw new Error('usage: node bench/profile-top.ts PROFILE [WINDOWS.json|-] [N]');
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const windows = windowsFile && windowsFile !== '-' ? JSON.parse(readFileSync(windowsFile, 'utf8')) as Array<[number, number]> : undefined;
const top = Number(n ?? 40);

const byId = new Map(p.nodes.map((x) => [x.id, x]));
const parent = new Map<number, number>();
for (const x of p.nodes) for (const c of x.children ?? []) parent.set(c, x.id);
const label = (x: ProfileNode): string => `${x.callFrame.functionName || '(anonymous)'} ${x.callFrame.url.replace(/^file:\/\/.*?\/(sidecar|policy|crds|log|cli|node_modules)\//, '$1/')}:${x.callFrame.lineNumber + 1}`;

/** Self time per node id, in µs, inside the windows. */
function selfTimes(): Map<number, number> {
  const self = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    const d = p.timeDeltas[i + 1] ?? 0;
    if (windows && !windows.some(([a, b]) => t >= a && t <= b)) continue;
    const id = p.samples[i] as number;
    self.set(id, (self.get(id) ?? 0) + d);
  }
  return self;
}

const selfBy = new Map<string, number>();
const inclusive = new Map<string, number>();
let busy = 0;
for (const [id, us] of selfTimes()) {
  const node = byId.get(id) as ProfileNode;
  if (node.callFrame.functionName === '(idle)') continue;
  busy += us;
  selfBy.set(label(node), (selfBy.get(label(node)) ?? 0) + us);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const k = label(byId.get(cur) as ProfileNode);
    if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    seen.add(k);
  }
}
const show = (m: Map<string, number>): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, top)
  .map(([k, us]) => `${(us / 1000).toFixed(1).padStart(9)} ms ${((100 * us) / busy).toFixed(1).padStart(5)}%  ${k}`).join('\n');
process.stdout.write(`busy ${(busy / 1000).toFixed(0)} ms${windows ? ` in ${windows.length} windows` : ''}\n-- self\n${show(selfBy)}\n-- inclusive\n${show(inclusive)}\n`);
