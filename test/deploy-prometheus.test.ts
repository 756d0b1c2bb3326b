// A real Prometheus (Debian's) scrapes a running `cascade stack` with deploy/prometheus/prometheus.yml's
// relabeling (Kubernetes discovery swapped for static targets carrying the metadata the chart's pods
// would have) and deploy/prometheus/alerts.yml as it is. An edge is SIGKILLed: CascadeEdgeDown fires for
// it, and only for it. On the way, every query of the Grafana dashboard runs against the live data.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseYaml, root } from './helpers/chart.js';
import { alertsFile, asPromQL, dashboard, dashboardQueries, promDir } from './helpers/observability.js';
import { freePort, startChild, type Child } from './helpers/process.js';

const cli = join(root, 'dist', 'cli.js');
// Small and cheap: this box has 2 cores.
const LIGHT = ['--ladder', '240p,144p', '--fps', '12', '--source-size', '426x240', '--preset', 'ultrafast', '--log-level', 'error'];
const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;

interface Alert { labels: Record<string, string>; state: 'pending' | 'firing'; activeAt: string }

async function api<T>(base: string, path: string): Promise<T> {
  const res = await fetch(`${base}/api/v1/${path}`, { signal: AbortSignal.timeout(5000) });
  const body = await res.json() as { status: string; data: T; error?: string };
  assert.equal(body.status, 'success', `${path}: ${body.error}`);
  return body.data;
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await check().catch(() => undefined);
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs / 1000} s waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** A target as Kubernetes discovery would describe the chart's pod behind it. */
function podTarget(port: number, component: string, pod: string) {
  return {
    targets: [`127.0.0.1:${port}`],
    labels: {
      __meta_kubernetes_pod_label_app_kubernetes_io_part_of: 'cascade',
      __meta_kubernetes_pod_label_app_kubernetes_io_component: component,
      __meta_kubernetes_pod_label_app_kubernetes_io_instance: 'rel',
      __meta_kubernetes_pod_annotation_prometheus_io_scrape: 'true',
      __meta_kubernetes_pod_annotation_prometheus_io_port: String(port),
      __meta_kubernetes_pod_annotation_prometheus_io_path: '/metrics',
      __meta_kubernetes_pod_name: pod,
      __meta_kubernetes_namespace: 'live',
      __meta_kubernetes_pod_node_name: 'node-a',
    },
  };
}

test('a real Prometheus with deploy/prometheus scrapes cascade stack; a SIGKILLed edge fires CascadeEdgeDown', async (t) => {
  const missing = ['prometheus', 'ffmpeg', 'redis-server'].find((tool) => !has(tool));
  if (missing) return t.skip(`no ${missing}`);
  if (!existsSync(cli)) return t.skip('npm run build first');

  const [lbPort, originPort, e1, e2, rtmp, promPort] = await Promise.all(Array.from({ length: 6 }, () => freePort()));
  const stack: Child = startChild(process.execPath, [cli, 'stack', '--port', String(lbPort), '--origin-port', String(originPort),
    '--edge-ports', `${e1},${e2}`, '--rtmp-port', String(rtmp), ...LIGHT]);
  t.after(() => stack.kill('SIGTERM'));
  await stack.waitFor(/cascade stack is running/, 60_000);
  const pids = Object.fromEntries([...stack.output().matchAll(/^\s+(origin|edge-\d|lb)\s+http:\/\/\S+\s+\(pid (\d+)/gm)].map((m) => [m[1]!, Number(m[2])]));
  assert.ok(pids['edge-1'] && pids['edge-2'], stack.output());

  // prometheus.yml as written, but discovering these processes as the chart's pods, scraping every second.
  const dir = mkdtempSync(join(tmpdir(), 'cascade-prometheus-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const config = parseYaml<{ global: Record<string, string>; scrape_configs: Record<string, unknown>[] }>(readFileSync(join(promDir, 'prometheus.yml'), 'utf8'))[0]!;
  config.global = { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' };
  const job = config.scrape_configs[0]!;
  assert.ok(job.kubernetes_sd_configs, 'the scrape job discovers pods');
  delete job.kubernetes_sd_configs;
  job.static_configs = [podTarget(originPort!, 'origin', 'rel-cascade-origin-0'), podTarget(e1!, 'edge', 'edge-1'), podTarget(e2!, 'edge', 'edge-2'), podTarget(lbPort!, 'lb', 'rel-cascade-lb-1')];
  writeFileSync(join(dir, 'prometheus.yml'), JSON.stringify(config));
  copyFileSync(alertsFile, join(dir, 'alerts.yml'));
  const prometheus = startChild('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`,
    `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn']);
  t.after(() => prometheus.kill('SIGKILL'));
  const prom = `http://127.0.0.1:${promPort}`;
  await until('Prometheus ready', 30_000, async () => ((await fetch(`${prom}/-/ready`)).ok ? true : undefined));

  // The relabeling names jobs and instances as alerts.yml and the dashboard expect.
  interface Targets { activeTargets: { labels: Record<string, string>; health: string }[] }
  const targets = await until('every target up', 30_000, async () => {
    const active = (await api<Targets>(prom, 'targets')).activeTargets;
    return active.length === 4 && active.every((a) => a.health === 'up') ? active : undefined;
  });
  assert.deepEqual(targets.map((a) => `${a.labels.job} ${a.labels.instance} ${a.labels.namespace}`).sort(),
    ['cascade-edge edge-1 live', 'cascade-edge edge-2 live', 'cascade-lb rel-cascade-lb-1 live', 'cascade-origin rel-cascade-origin-0 live']);
  const rules = await api<{ groups: { rules: { name: string }[] }[] }>(prom, 'rules');
  assert.ok(rules.groups.flatMap((g) => g.rules).some((r) => r.name === 'CascadeEdgeDown'), 'alerts.yml is loaded');

  // Players through the LB, until the stream is there, so the dashboard has something to show.
  const master = `http://127.0.0.1:${lbPort}/hls/demo/index.m3u8`;
  await until('the stream through the LB', 40_000, async () => {
    const res = await fetch(master);
    const variant = (await res.text()).split('\n').find((l) => l.endsWith('.m3u8'));
    if (!res.ok || !variant) return undefined;
    const media = await fetch(new URL(variant, res.url));
    const segment = (await media.text()).trim().split('\n').at(-1);
    return segment && (await fetch(new URL(segment, media.url))).ok ? true : undefined;
  });
  // Every dashboard query runs; the ones about what just happened have data.
  await until('the origin and edge series in Prometheus', 20_000, async () =>
    ((await api<{ result: unknown[] }>(prom, 'query?query=cascade_origin_playlist_age_seconds')).result.length > 0 ? true : undefined));
  await new Promise((r) => setTimeout(r, 2500)); // two more scrapes, for rate()
  const empty: string[] = [];
  for (const q of dashboardQueries(dashboard()).filter((d) => !d.expr.startsWith('label_values('))) {
    const data = await api<{ result: unknown[] }>(prom, `query?query=${encodeURIComponent(asPromQL(q.expr))}`);
    if (data.result.length === 0) empty.push(q.where);
  }
  t.diagnostic(`dashboard queries without data yet: ${empty.join('; ') || 'none'}`);
  for (const title of ['Playlist age by rendition', 'Requests by cache outcome', 'Redirects by edge', 'Edge health at the LBs', 'Viewers by stream', 'Upstream latency by origin']) {
    assert.ok(!empty.some((w) => w.includes(`"${title}`)), `"${title}" shows data`);
  }
  const before = await api<{ alerts: Alert[] }>(prom, 'alerts');
  assert.deepEqual(before.alerts.filter((a) => a.labels.alertname === 'CascadeEdgeDown'), [], 'no edge down before the kill');

  process.kill(pids['edge-1']!, 'SIGKILL');
  const killed = Date.now();
  const alert = await until('CascadeEdgeDown firing for edge-1', 60_000, async () =>
    (await api<{ alerts: Alert[] }>(prom, 'alerts')).alerts.find((a) => a.labels.alertname === 'CascadeEdgeDown' && a.state === 'firing'));
  const seconds = (Date.now() - killed) / 1000;
  t.diagnostic(`CascadeEdgeDown fired ${seconds.toFixed(1)} s after the SIGKILL (rule: for 30s)`);
  assert.deepEqual({ instance: alert.labels.instance, job: alert.labels.job, severity: alert.labels.severity }, { instance: 'edge-1', job: 'cascade-edge', severity: 'critical' });
  assert.ok(seconds >= 30, 'not before its for: 30s');
  const after = (await api<{ alerts: Alert[] }>(prom, 'alerts')).alerts;
  assert.deepEqual(after.filter((a) => a.labels.alertname === 'CascadeEdgeDown').map((a) => a.labels.instance), ['edge-1'], 'the other edge is not down');
  // The LB took the dead edge out long before: players never waited on the alert.
  const lbEdges = await (await fetch(`http://127.0.0.1:${lbPort}/api/edges`)).json() as { id: string; healthy: boolean }[];
  assert.ok(!lbEdges.some((e) => e.id === 'edge-1' && e.healthy), JSON.stringify(lbEdges));
});
