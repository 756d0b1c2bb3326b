// The edge's load as it reports it to the LBs at every heartbeat (src/control-plane.ts, EdgeLoad): viewers
// within a short window (what the LBs bound: a client that moved must stop counting here soon, so the
// minute the viewers metric uses would hide every move for a minute), per stream for the status page, and
// bytes/s, requests/s, hit ratio, event-loop lag and CPU over the last beat.
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { MAX_LOAD_STREAMS, type EdgeLoad } from '../src/control-plane.js';
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
    this.lag = monitorEventLoopDelay({ resolution: 10 });
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

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}
