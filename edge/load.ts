// The edge's load as it reports it to the LBs at every heartbeat (src/control-plane.ts, EdgeLoad): viewers
// within a short window (what the LBs bound: a client that moved must stop counting here soon, so the
// minute the viewers metric uses would hide every move for a minute), per stream for the status page, and
// bytes/s, requests/s, hit ratio, event-loop lag and CPU over the last beat.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { MAX_LOAD_STREAMS, type EdgeLoad } from '../src/control-plane.js';
import { LAG_RESOLUTION_MS } from '../src/metrics.js';
import type { EdgeTotals } from './metrics.js';

export interface LoadSources {
  /** Viewers per stream seen within `withinMs`. */
  viewers(withinMs: number): Map<string, number>;
  totals(): EdgeTotals;
}

export class LoadMeter {
  private readonly lag: IntervalHistogram;
  private last: { at: number; cpu: NodeJS.CpuUsage; totals: EdgeTotals };

  constructor(private readonly sources: LoadSources, private readonly windowMs: number, private readonly now: () => number = Date.now) {
    // Each tick of the monitor wakes the event loop, and a wake-up costs ~65 µs of CPU on a quiet VM: at 10 ms
    // it and prom-client's were most of an idle edge's CPU. A stall of 200 ms or more always delays a tick;
    // shorter ones show in proportion to how often they happen, which is what a load report is for.
    this.lag = monitorEventLoopDelay({ resolution: LAG_RESOLUTION_MS });
    this.lag.enable();
    this.last = { at: now(), cpu: process.cpuUsage(), totals: sources.totals() };
  }

  /** The load since the last sample (the first: since start). */
  sample(): EdgeLoad {
    const at = this.now();
    const cpu = process.cpuUsage();
    const totals = this.sources.totals();
    const seconds = Math.max(0.001, (at - this.last.at) / 1000);
    const requests = totals.requests - this.last.totals.requests;
    const perStream = [...this.sources.viewers(this.windowMs)].sort((a, b) => b[1] - a[1]);
    const load: EdgeLoad = {
      viewers: perStream.reduce((sum, [, n]) => sum + n, 0),
      streams: Object.fromEntries(perStream.slice(0, MAX_LOAD_STREAMS)),
      windowMs: this.windowMs,
      bytesPerSecond: Math.round((totals.bytes - this.last.totals.bytes) / seconds),
      requestsPerSecond: round(requests / seconds),
      hitRatio: requests > 0 ? round((totals.hits - this.last.totals.hits) / requests) : null,
      loopLagMs: round(this.lag.count > 0 ? this.lag.percentile(99) / 1e6 : 0),
      cpu: round((cpu.user + cpu.system - this.last.cpu.user - this.last.cpu.system) / 1000 / (seconds * 1000)),
      at,
    };
    this.lag.reset();
    this.last = { at, cpu, totals };
    return load;
  }

  close(): void {
    this.lag.disable();
  }
}

/**
 * The host's load from its workers' (`--workers`: each sees only the connections the kernel gave it):
 * viewers, streams, bytes, requests and CPU summed, the worst loop lag, the hit ratio over all requests.
 * A player whose connections went to two workers counts twice (players reload on one kept-alive connection).
 */
export function combineLoads(parts: readonly EdgeLoad[]): EdgeLoad | undefined {
  const [first] = parts;
  if (first === undefined) return undefined;
  const streams = new Map<string, number>();
  for (const part of parts) for (const [stream, n] of Object.entries(part.streams)) streams.set(stream, (streams.get(stream) ?? 0) + n);
  const sum = (of: (part: EdgeLoad) => number) => parts.reduce((total, part) => total + of(part), 0);
  const requestsPerSecond = sum((p) => p.requestsPerSecond);
  const hitsPerSecond = sum((p) => (p.hitRatio ?? 0) * p.requestsPerSecond);
  return {
    viewers: sum((p) => p.viewers),
    streams: Object.fromEntries([...streams].sort((a, b) => b[1] - a[1]).slice(0, MAX_LOAD_STREAMS)),
    windowMs: first.windowMs,
    bytesPerSecond: sum((p) => p.bytesPerSecond),
    requestsPerSecond: round(requestsPerSecond),
    hitRatio: requestsPerSecond > 0 ? round(hitsPerSecond / requestsPerSecond) : null,
    loopLagMs: Math.max(...parts.map((p) => p.loopLagMs)),
    cpu: round(sum((p) => p.cpu)),
    at: Math.max(...parts.map((p) => p.at)),
  };
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
