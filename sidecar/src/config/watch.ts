// Watches a configuration directory (config.json and secrets, including Kubernetes' atomic
// symlink swaps of projected volumes) and calls `onChange` once per burst of events.
import { watch } from 'node:fs';
import type { FSWatcher } from 'node:fs';

export function watchConfigDir(dir: string, onChange: () => void, debounceMs = 150): () => void {
  let timer: NodeJS.Timeout | undefined;
  const fire = () => { clearTimeout(timer); timer = setTimeout(onChange, debounceMs); };
  const watchers: FSWatcher[] = [];
  for (const [path, recursive] of [[dir, false], [`${dir}/secrets`, true]] as const) {
    try {
      const w = watch(path, { recursive, persistent: false }, fire);
      w.on('error', () => undefined);
      watchers.push(w);
    } catch { /* the folder may not exist (no secrets); SIGHUP still reloads */ }
  }
  return () => { clearTimeout(timer); for (const w of watchers) w.close(); };
}
