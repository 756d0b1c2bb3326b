// Prometheus metrics: one registry per role instance, so several roles can live in one process (tests, `stack`).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Aggregator, type LabelValues } from 'prom-client';

export const METRIC_PREFIX = 'cascade_';

/**
 * The tick of every event-loop-delay monitor (prom-client's, the edge's load meter). Each tick wakes the
 * loop; two monitors at 50 and 100 ms cost an idle process 1.9 ms of CPU a second here, at 200 ms 0.35.
 */
export const LAG_RESOLUTION_MS = 200;

/** A counter's handle for one label set on a hot path. */
export interface Tally {
  inc(value?: number): void;
}

export class Metrics {
  readonly registry = new Registry();
  /** What /metrics renders, when not this registry alone (a cluster worker answers for every worker). */
  private renderer: (() => Promise<string>) | undefined;

  constructor(labels: Record<string, string> = {}, defaults = true) {
    this.registry.setDefaultLabels(labels);
    if (defaults) {
      // prom-client's 10 ms default was 100 wake-ups a second in every process, idle or not.
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX, eventLoopMonitoringPrecision: LAG_RESOLUTION_MS });
      // prom-client names three gauges `nodejs_active_{handles,requests,resources}_total`, which breaks the
      // Prometheus rule that only counters end in `_total` (promtool check metrics refuses them). Each is
      // the sum of the gauge of the same name without `_total` (by `type`), so nothing is lost:
      // sum(cascade_nodejs_active_handles) gives the total.
      for (const m of this.registry.getMetricsAsArray()) {
        if (m.name.endsWith('_total') && !(m instanceof Counter)) this.registry.removeSingleMetric(m.name);
      }
    }
  }

  counter<L extends string>(name: string, help: string, labelNames: readonly L[] = []): Counter<L> {
    return new Counter({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry] });
  }

  /**
   * A counter for hot paths: `bind(labels)` once, then each `inc` adds to a plain number, which goes into
   * the counter when it is read (a scrape, the workers' aggregation). prom-client's own
   * `labels(...).inc()` hashes and checks the label set on every call. A tally the caller drops is still
   * added once, at the next read. The caller bounds how many label sets it binds.
   */
  tallied<L extends string>(name: string, help: string, labelNames: readonly L[] = []): { bind(labels: LabelValues<L>): Tally } {
    const dirty = new Set<{ labels: LabelValues<L>; pending: number }>();
    new Counter({
      name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry],
      collect(this: Counter<L>) {
        for (const t of dirty) {
          this.inc(t.labels, t.pending);
          t.pending = 0;
        }
        dirty.clear();
      },
    });
    return {
      bind(labels) {
        const tally = { labels, pending: 0 };
        return {
          inc(value = 1) {
            if (tally.pending === 0) dirty.add(tally);
            tally.pending += value;
          },
        };
      },
    };
  }

  /**
   * `aggregator`: how `--workers` processes' values combine on /metrics (src/workers.ts); default the sum,
   * right for amounts (bytes, clients), wrong for a state every worker reports alike (a weight, a flag).
   */
  gauge<L extends string>(name: string, help: string, labelNames: readonly L[] = [], collect?: (this: Gauge<L>) => void | Promise<void>, aggregator?: Aggregator): Gauge<L> {
    return new Gauge({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry], ...(collect ? { collect } : {}), ...(aggregator ? { aggregator } : {}) });
  }

  histogram<L extends string>(name: string, help: string, labelNames: readonly L[] = [], buckets?: number[]): Histogram<L> {
    return new Histogram({ name: METRIC_PREFIX + name, help, labelNames, registers: [this.registry], ...(buckets ? { buckets } : {}) });
  }

  renderWith(renderer: () => Promise<string>): void {
    this.renderer = renderer;
  }

  async render(): Promise<{ body: string; contentType: string }> {
    return { body: await (this.renderer ?? (() => this.registry.metrics()))(), contentType: this.registry.contentType };
  }
}
