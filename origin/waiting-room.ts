// Requests held until what they wait for is published: blocking playlist reloads (until the playlist has
// the segment or part asked for) and requests for a hinted part (until it exists). Each waits for a key of
// its stream (a playlist path, or an upload whose parts it waits for) and is checked whenever that key is
// notified, so a publication releases every waiter it satisfies in the same turn. Bounded per stream and in
// total; each waiter gives up after its own time (an unref'd timer: a held request never keeps the process up).

export interface WaitLimits {
  perStream: number;
  total: number;
}

/** Calls `fn` after `ms` unless cancelled. */
export type Timer = (ms: number, fn: () => void) => () => void;

export const unrefTimer: Timer = (ms, fn) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return () => clearTimeout(t);
};

interface Waiter {
  ready: () => boolean;
  finish: (ready: boolean) => void;
}

export class WaitingRoom {
  private readonly keys = new Map<string, Set<Waiter>>();
  private readonly counts = new Map<string, number>();
  private total = 0;

  constructor(private readonly limits: WaitLimits, private readonly timer: Timer = unrefTimer) {}

  /** How many requests are held now. */
  get size(): number {
    return this.total;
  }

  /**
   * Resolves true as soon as `ready()` holds (checked now and at each `notify(stream, key)`), false after `ms`
   * or when `signal` aborts (the client left). Undefined, at once, when the room is full: the caller refuses.
   */
  wait(stream: string, key: string, ready: () => boolean, ms: number, signal?: AbortSignal): Promise<boolean> | undefined {
    if (ready()) return Promise.resolve(true);
    if (this.total >= this.limits.total || (this.counts.get(stream) ?? 0) >= this.limits.perStream) return undefined;
    const id = `${stream}\n${key}`;
    return new Promise<boolean>((resolve) => {
      const waiters = this.keys.get(id) ?? new Set<Waiter>();
      this.keys.set(id, waiters);
      this.total++;
      this.counts.set(stream, (this.counts.get(stream) ?? 0) + 1);
      const onAbort = () => waiter.finish(false);
      const waiter: Waiter = {
        ready,
        finish: (ok) => {
          if (!waiters.delete(waiter)) return;
          if (waiters.size === 0) this.keys.delete(id);
          this.total--;
          const left = this.counts.get(stream)! - 1;
          if (left === 0) this.counts.delete(stream);
          else this.counts.set(stream, left);
          cancel();
          signal?.removeEventListener('abort', onAbort);
          resolve(ok);
        },
      };
      waiters.add(waiter);
      const cancel = this.timer(ms, () => waiter.finish(false));
      signal?.addEventListener('abort', onAbort);
      if (signal?.aborted) onAbort();
    });
  }

  /** What `key` of `stream` stands for changed: every waiter it now satisfies is released. */
  notify(stream: string, key: string): void {
    const waiters = this.keys.get(`${stream}\n${key}`);
    if (!waiters) return;
    for (const w of [...waiters]) if (w.ready()) w.finish(true);
  }

  /** Releases every waiter as not ready (the origin closes). */
  close(): void {
    for (const waiters of [...this.keys.values()]) for (const w of [...waiters]) w.finish(false);
  }
}
