// Copies a directory out of a proxy pod the way `kubectl cp` does: `kubectl exec POD -c CONTAINER --
// tar cf - -C DIR .` piped into a local `tar xf -` (tar keeps the modification times, which order
// rotated audit files). The exec is streamed by the kubelet of the pod's node: it needs a running
// pod on a real node and `create` on pods/exec; the proxy image (Debian slim) has tar.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface PodDir { kubectl: string; namespace: string; pod: string; container: string; dir: string }

function exited(child: ReturnType<typeof spawn>, what: string, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    child.once('error', (e) => reject(new Error(`${what}: ${e.message}`)));
    child.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`${what} exited with ${code}: ${stderr().trim()}`))));
  });
}

/** The local copy of `src.dir` (a new temporary folder; `remove` deletes it). */
export async function copyFromPod(src: PodDir): Promise<{ dir: string; remove: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'clarus-pod-'));
  const remove = (): void => rmSync(dir, { recursive: true, force: true });
  const exec = spawn(src.kubectl, ['exec', '-n', src.namespace, src.pod, '-c', src.container, '--', 'tar', 'cf', '-', '-C', src.dir, '.'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const untar = spawn('tar', ['xf', '-', '-C', dir], { stdio: ['pipe', 'ignore', 'pipe'] });
  let execErr = '';
  let untarErr = '';
  exec.stderr?.on('data', (d: Buffer) => { if (execErr.length < 4096) execErr += d.toString(); });
  untar.stderr?.on('data', (d: Buffer) => { if (untarErr.length < 4096) untarErr += d.toString(); });
  exec.stdout?.pipe(untar.stdin as NodeJS.WritableStream);
  // Both end; the exec's failure is the one to report (the local tar then only saw a cut stream).
  const [copied, unpacked] = await Promise.allSettled([exited(exec, `${src.kubectl} exec ${src.namespace}/${src.pod}`, () => execErr), exited(untar, 'tar xf', () => untarErr)]);
  const failed = [copied, unpacked].find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    remove();
    throw failed.reason;
  }
  return { dir, remove };
}
