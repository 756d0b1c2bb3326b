// Active health checks: GET <edge>/healthz every interval. An edge's state flips only after `fall`
// consecutive failures or `rise` consecutive successes, so one lost packet does not move clients;
// the first result decides straight away, so a dead edge at start-up is out after one check.
// Three things make a killed edge leave within milliseconds rather than after `fall` intervals (players
// that do not retry a failed playlist reload, ffmpeg and mpv among them, give up within that window): the
// kept-alive check connection closing triggers a check straight away (at most once per interval, so an edge
// that closes every connection at once costs one extra check per interval, not a loop); a refused
// connection is down at once (nothing listens there; that is no lost packet); and an edge in transition is
// re-checked at a quarter of the interval, like haproxy's `fastinter`.
import { Agent, request } from 'undici';
import type { Logger } from '../src/log.js';

export type Health = 'unknown' | 'up' | 'down';

export interface HealthOptions {
  /** 0 turns checks off: every edge counts as usable. */
  intervalMs: number;
  timeoutMs: number;
  rise: number;
  fall: number;
}

interface Tracker {
  url: string;
  health: Health;
  /** Consecutive results that disagree with `health`. */
  streak: number;
  checking: boolean;
  /** Another check was asked for while one ran (the connection closed meanwhile). */
  again: boolean;
  /** The fast re-check of an edge in transition. */
  recheck?: NodeJS.Timeout;
  /** When its connection closing last triggered a check (ms). */
  wokenAt?: number;
}

export class HealthChecker {
  private readonly trackers = new Map<string, Tracker>();
  private changeCount = 0;
  private readonly agent: Agent;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: HealthOptions,
    private readonly log: Logger,
  ) {
    this.agent = new Agent({ keepAliveTimeout: 10_000, connect: { timeout: options.timeoutMs } });
    this.agent.on('disconnect', (origin) => this.checkOrigin(String(origin)));
    if (options.intervalMs > 0) this.timer = setInterval(() => void this.checkAll(), options.intervalMs);
  }

  /** Follows the edge list; a new edge or a changed URL starts from `unknown` and is checked at once. */
  setEdges(edges: readonly { id: string; url: string }[]): void {
    const ids = new Set(edges.map((e) => e.id));
    for (const [id, tracker] of this.trackers) {
      if (ids.has(id)) continue;
      clearTimeout(tracker.recheck);
      this.trackers.delete(id);
      this.changeCount++;
    }
    for (const { id, url } of edges) {
      if (this.trackers.get(id)?.url === url) continue;
      const tracker: Tracker = { url, health: 'unknown', streak: 0, checking: false, again: false };
      this.trackers.set(id, tracker);
      this.changeCount++;
      if (this.options.intervalMs > 0) void this.check(id, tracker);
    }
  }

  /** Bumped whenever an edge is added, removed or changes health: a pick made before may not hold after. */
  get changes(): number {
    return this.changeCount;
  }

  health(id: string): Health {
    return this.trackers.get(id)?.health ?? 'unknown';
  }

  usable(id: string): boolean {
    return this.health(id) !== 'down';
  }

  /** One round over every edge (the timer calls it; tests may too). */
  async checkAll(): Promise<void> {
    await Promise.all([...this.trackers].map(([id, t]) => this.check(id, t)));
  }

  /** Checks now every edge served from `origin` (its check connection just closed), once per interval. */
  private checkOrigin(origin: string): void {
    if (this.options.intervalMs <= 0) return;
    const now = Date.now();
    for (const [id, tracker] of this.trackers) {
      if (new URL(tracker.url).origin !== new URL(origin).origin) continue;
      if (tracker.wokenAt !== undefined && now - tracker.wokenAt < this.options.intervalMs) continue;
      tracker.wokenAt = now;
      void this.check(id, tracker);
    }
  }

  private async check(id: string, tracker: Tracker): Promise<void> {
    if (tracker.checking) {
      tracker.again = true;
      return;
    }
    tracker.checking = true;
    tracker.again = false;
    clearTimeout(tracker.recheck);
    let ok = false;
    let refused = false;
    let error: string | undefined;
    try {
      const res = await request(`${tracker.url}/healthz`, {
        dispatcher: this.agent,
        headersTimeout: this.options.timeoutMs,
        bodyTimeout: this.options.timeoutMs,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      await res.body.dump();
      ok = res.statusCode >= 200 && res.statusCode < 300;
      if (!ok) error = `status ${res.statusCode}`;
    } catch (err) {
      error = (err as Error).message;
      refused = (err as NodeJS.ErrnoException).code === 'ECONNREFUSED';
    } finally {
      tracker.checking = false;
    }
    // The edge may have been removed or re-pointed while the check ran.
    if (this.trackers.get(id) !== tracker) return;
    this.record(id, tracker, ok ? 'up' : 'down', refused, error);
    if (tracker.again) void this.check(id, tracker);
    else if (tracker.streak > 0) tracker.recheck = setTimeout(() => void this.check(id, tracker), Math.max(50, this.options.intervalMs / 4)).unref();
  }

  private record(id: string, tracker: Tracker, result: Health, refused: boolean, error: string | undefined): void {
    if (tracker.health === result) {
      tracker.streak = 0;
      return;
    }
    tracker.streak++;
    const needed = result === 'up' ? this.options.rise : refused ? 1 : this.options.fall;
    if (tracker.health !== 'unknown' && tracker.streak < needed) return;
    tracker.health = result;
    tracker.streak = 0;
    this.changeCount++;
    this.log[result === 'up' ? 'info' : 'warn']('edge_health', { edge: id, health: result, ...(error ? { err: error } : {}) });
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const tracker of this.trackers.values()) clearTimeout(tracker.recheck);
    this.trackers.clear();
    await this.agent.close();
  }
}
