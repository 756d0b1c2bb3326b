// Prometheus metrics: one registry per role instance, so several roles can live in one process (tests, `stack`).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type Aggregator } from 'prom-client';

export const METRIC_PREFIX = 'cascade_';

export class Metrics {
  readonly registry = new Registry();
  /** What /metrics renders, when not this registry alone (a cluster worker answers for every worker). */
  private renderer: (() => Promise<string>) | undefined;

  constructor(labels: Record<string, string> = {}, defaults = true) {
    this.registry.setDefaultLabels(labels);
    if (defaults) {
      collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
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
