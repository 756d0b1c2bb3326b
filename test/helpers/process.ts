// Child processes started by tests: output captured, killed by pid, awaited.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { request, type Dispatcher } from 'undici';

export { freePort } from '../../src/free-port.js';

/** Node arguments that run the `cascade` CLI from source (so tests never depend on a stale dist/). */
export const CLI = ['--import', 'tsx', new URL('../../cli/main.ts', import.meta.url).pathname];

export interface Child {
  proc: ChildProcess;
  pid: number;
  output(): string;
  /** Resolves when the output matches (or rejects when the process exits first / times out). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<number | null>;
  /** Sends `signal`, then SIGKILL if it has not exited after `graceMs`; resolves with its exit code (-1: killed). */
  kill(signal?: NodeJS.Signals, graceMs?: number): Promise<number | null>;
}

export function startChild(cmd: string, args: string[], options: SpawnOptions = {}): Child {
  const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let out = '';
  const listeners = new Set<() => void>();
  const onData = (d: Buffer) => {
    out += d.toString();
    if (out.length > 1_000_000) out = out.slice(-500_000);
    for (const l of listeners) l();
  };
  proc.stdout?.on('data', onData);
  proc.stderr?.on('data', onData);
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code, signal) => resolve(code ?? (signal ? -1 : null))));
  let done = false;
  void exited.then(() => { done = true; for (const l of listeners) l(); });
  return {
    proc,
    pid: proc.pid!,
    output: () => out,
    exited,
    waitFor(pattern, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => { listeners.delete(check); reject(new Error(`timed out waiting for ${pattern} from ${cmd}; output:\n${out.slice(-2000)}`)); }, timeoutMs);
        const check = () => {
          const m = out.match(pattern);
          if (m) { clearTimeout(timer); listeners.delete(check); resolve(m); }
          else if (done) { clearTimeout(timer); listeners.delete(check); reject(new Error(`${cmd} exited before ${pattern}; output:\n${out.slice(-2000)}`)); }
        };
        listeners.add(check);
        check();
      });
    },
    async kill(signal = 'SIGTERM', graceMs = 5000) {
      if (!done) {
        try { process.kill(proc.pid!, signal); } catch { /* already gone */ }
        const timer = setTimeout(() => { try { process.kill(proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
        const code = await exited;
        clearTimeout(timer);
        return code;
      }
      return exited;
    },
  };
}

/**
 * Resolves once `url` answers `status` (polled every 50 ms, at most 10 s; redirects not followed, through
 * `dispatcher` if given, e.g. one trusting a test CA); rejects with the child's output if it exits or never does.
 */
export async function waitForStatus(url: string, status: number, child: Child, dispatcher?: Dispatcher): Promise<void> {
  for (let i = 0; i < 200; i++) {
    try {
      const res = await request(url, dispatcher ? { dispatcher } : {});
      await res.body.dump();
      if (res.statusCode === status) return;
    } catch { /* not listening yet */ }
    if (child.proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${status} from ${url}:\n${child.output()}`);
}
