// Child processes that never outlive their parent, and a restart loop for ffmpeg.
//
// No orphans: children are started through util-linux `setpriv --pdeathsig` when it is available, so the
// kernel signals them if this process dies even by SIGKILL; on a normal exit, SIGTERM or SIGINT the parent
// kills them itself (`killAllOnExit`). Every child is killed by its pid, never by name.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { closeSync, mkdtempSync, openSync, rmdirSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

let setprivOk: boolean | undefined;
function hasSetpriv(): boolean {
  setprivOk ??= spawnSync('setpriv', ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore' }).status === 0;
  return setprivOk;
}

const live = new Set<ChildProcess>();
let hooked = false;

function killAll(signal: NodeJS.Signals): void {
  for (const child of live) {
    if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try { process.kill(child.pid, signal); } catch { /* gone */ }
    }
  }
}

/** Kills every child started here when this process exits (the pdeathsig covers SIGKILL). */
function hookExit(): void {
  if (hooked) return;
  hooked = true;
  process.on('exit', () => killAll('SIGKILL'));
}

export interface SpawnedChild {
  proc: ChildProcess;
  pid: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** The child's stdin (secrets that must not be on the command line). */
  stdin?: string;
  /** Signal the kernel sends the child when this process dies. */
  deathSignal?: 'TERM' | 'KILL' | 'INT';
  /** Called with each complete line of stdout / stderr. */
  onStdout?: (line: string) => void;
  onStderr?: (line: string) => void;
}

function lines(onLine: (line: string) => void): (chunk: Buffer) => void {
  let rest = '';
  return (chunk) => {
    rest += chunk.toString();
    const parts = rest.split(/\r?\n|\r/);
    rest = parts.pop() ?? '';
    if (rest.length > 64 * 1024) { parts.push(rest); rest = ''; }
    for (const p of parts) if (p.length > 0) onLine(p);
  };
}

/**
 * A descriptor of a file that is already unlinked, holding `text`: unlike Node's stdin pipe (a socket),
 * a child can also open it by name as /dev/stdin (ffmpeg's `-fpre /dev/stdin`), and nothing stays on disk.
 */
function unlinkedFileWith(text: string): number {
  const dir = mkdtempSync(join(tmpdir(), 'cascade-'));
  const path = join(dir, 'stdin');
  const fd = openSync(path, 'w+', 0o600);
  try {
    // At position 0 (pwrite): the descriptor's offset stays at the start for a child that reads it.
    writeSync(fd, text, 0);
  } finally {
    unlinkSync(path);
    rmdirSync(dir);
  }
  return fd;
}

/** Starts a child that dies with this process. The returned pid is the program's own (setpriv execs it). */
export function spawnChild(cmd: string, args: readonly string[], options: SpawnOptions = {}): SpawnedChild {
  hookExit();
  const [file, argv] = hasSetpriv()
    ? ['setpriv', ['--pdeathsig', options.deathSignal ?? 'TERM', '--', cmd, ...args]]
    : [cmd, [...args]];
  const stdin = options.stdin === undefined ? 'ignore' : unlinkedFileWith(options.stdin);
  let proc: ChildProcess;
  try {
    proc = spawn(file, argv, { stdio: [stdin, 'pipe', 'pipe'], env: options.env ?? process.env, cwd: options.cwd });
  } finally {
    if (typeof stdin === 'number') closeSync(stdin);
  }
  live.add(proc);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => { live.delete(proc); resolve({ code, signal }); });
    proc.once('error', (err) => {
      live.delete(proc);
      options.onStderr?.(`cannot start ${cmd}: ${err.message}`);
      resolve({ code: 127, signal: null });
    });
  });
  proc.stdout!.on('data', options.onStdout ? lines(options.onStdout) : () => {});
  proc.stderr!.on('data', options.onStderr ? lines(options.onStderr) : () => {});
  return {
    proc,
    pid: proc.pid ?? -1,
    exited,
    async stop(graceMs = 5000) {
      if (proc.exitCode !== null || proc.signalCode !== null || proc.pid === undefined) { await exited; return; }
      try { process.kill(proc.pid, 'SIGTERM'); } catch { /* gone */ }
      const timer = setTimeout(() => { try { process.kill(proc.pid!, 'SIGKILL'); } catch { /* gone */ } }, graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** True when `cmd` can be executed (e.g. ffmpeg, redis-server on PATH). */
export function commandExists(cmd: string, versionArg = '-version'): boolean {
  const r = spawnSync(cmd, [versionArg], { stdio: 'ignore', timeout: 10_000 });
  return !r.error && r.status === 0;
}

export interface SupervisorOptions {
  name: string;
  command: string;
  /** Recomputed on every start (so e.g. a port or file can change between restarts). */
  args: () => string[];
  /** Written to each run's stdin. */
  stdin?: string;
  /** Delay before the first restart; doubles on each quick failure up to maxBackoffMs. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A run that lasted this long resets the backoff. */
  resetAfterMs?: number;
  /**
   * Kill the process when it made progress (a `progress=` line on stdout, from `-progress pipe:1`)
   * and then stops making it for this long: a stalled input or output. 0 disables.
   */
  stallTimeoutMs?: number;
  /** Lines ffmpeg writes on stderr (warnings and errors), and supervisor events. */
  onLog?: (line: string) => void;
}

export interface SupervisorEvents {
  start: [pid: number];
  exit: [info: { pid: number; code: number | null; signal: NodeJS.Signals | null; ranMs: number }];
  progress: [info: { pid: number; outTimeMs: number }];
}

/** Runs a command forever: restarts it with backoff whenever it exits, until stop(). */
export class Supervisor extends EventEmitter<SupervisorEvents> {
  private child: SpawnedChild | undefined;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private watchdog: NodeJS.Timeout | undefined;
  private backoff: number;
  private lastProgress = 0;
  /** How many times the command was started. */
  starts = 0;

  constructor(readonly options: SupervisorOptions) {
    super();
    this.backoff = options.minBackoffMs ?? 500;
  }

  /** The running process's pid (undefined between restarts). */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(): this {
    this.launch();
    const stall = this.options.stallTimeoutMs ?? 0;
    if (stall > 0) {
      this.watchdog = setInterval(() => {
        const c = this.child;
        if (c && this.lastProgress > 0 && Date.now() - this.lastProgress > stall) {
          this.log(`no progress for ${Math.round((Date.now() - this.lastProgress) / 1000)} s, killing pid ${c.pid}`);
          this.lastProgress = 0;
          try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ }
        }
      }, Math.min(1000, stall));
      this.watchdog.unref();
    }
    return this;
  }

  private log(line: string): void {
    (this.options.onLog ?? ((l: string) => process.stderr.write(`[${this.options.name}] ${l}\n`)))(line);
  }

  private launch(): void {
    if (this.stopped) return;
    const startedAt = Date.now();
    this.lastProgress = 0;
    const child = spawnChild(this.options.command, this.options.args(), {
      deathSignal: 'KILL',
      ...(this.options.stdin !== undefined ? { stdin: this.options.stdin } : {}),
      onStderr: (l) => this.log(l),
      onStdout: (l) => {
        if (l.startsWith('out_time_us=')) {
          const us = Number(l.slice('out_time_us='.length));
          if (Number.isFinite(us) && us > 0) {
            this.lastProgress = Date.now();
            this.emit('progress', { pid: child.pid, outTimeMs: us / 1000 });
          }
        }
      },
    });
    this.child = child;
    this.starts++;
    this.log(`started pid ${child.pid}`);
    this.emit('start', child.pid);
    void child.exited.then(({ code, signal }) => {
      if (this.child === child) this.child = undefined;
      const ranMs = Date.now() - startedAt;
      this.emit('exit', { pid: child.pid, code, signal, ranMs });
      if (this.stopped) return;
      if (ranMs >= (this.options.resetAfterMs ?? 10_000)) this.backoff = this.options.minBackoffMs ?? 500;
      const delay = this.backoff;
      this.backoff = Math.min(this.backoff * 2, this.options.maxBackoffMs ?? 5000);
      this.log(`pid ${child.pid} exited (${signal ?? `code ${code}`}) after ${(ranMs / 1000).toFixed(1)} s; restarting in ${delay} ms`);
      this.timer = setTimeout(() => this.launch(), delay);
    });
  }

  /** Stops the loop and the running process (SIGTERM, then SIGKILL after graceMs). */
  async stop(graceMs = 3000): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearInterval(this.watchdog);
    await this.child?.stop(graceMs);
  }
}
