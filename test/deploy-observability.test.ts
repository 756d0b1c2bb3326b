// deploy/prometheus and deploy/grafana checked with the real tools: promtool checks and unit-tests the
// alert rules, checks the scrape configuration and every role's /metrics; the Grafana dashboard is a
// valid dashboard model whose queries parse; and every metric the rules and the dashboard use exists in
// some role's /metrics after traffic - so a renamed metric fails here, not silently on the wall.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REASON_STATUS } from '../origin/errors.js';
import { parseYaml, root } from './helpers/chart.js';
import { alertRules, alertsFile, allPanels, asPromQL, dashboard, dashboardQueries, metricNames, promDir } from './helpers/observability.js';
import { startLivePublisher, startRoles, untilEdgesHealthy } from './helpers/roles.js';
import { startRedis } from './helpers/redis.js';

const cli = join(root, 'dist', 'cli.js');

const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
const promtoolMissing = () => (has('promtool') ? undefined : 'no promtool (Debian package prometheus)');

function promtool(args: string[]) {
  return spawnSync('promtool', args, { encoding: 'utf8' });
}

test('promtool check rules accepts deploy/prometheus/alerts.yml, and it has the alerts an operator needs', (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const r = promtool(['check', 'rules', alertsFile]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: \d+ rules found/);
  const names = alertRules().map((a) => a.alert);
  for (const needed of ['CascadeEdgeDown', 'CascadeRenditionStalled', 'CascadeRedisDown', 'CascadeOriginUploadsRejected', 'CascadeOriginUploadsFailing', 'CascadeEdgeErrors', 'CascadeNoUsableEdge']) {
    assert.ok(names.includes(needed), needed);
  }
  for (const rule of alertRules()) {
    assert.ok(rule.labels?.severity && rule.annotations?.summary && rule.annotations.description, `${rule.alert}: severity, summary, description`);
  }
});

test('promtool test rules: every alert fires in deploy/prometheus/alerts-test.yml when it should (and not before)', (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const r = spawnSync('promtool', ['test', 'rules', 'alerts-test.yml'], { cwd: promDir, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS/);
  interface UnitTests { tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[] }
  const tests = parseYaml<UnitTests>(readFileSync(join(promDir, 'alerts-test.yml'), 'utf8'))[0]!.tests;
  const fired = new Set(tests.flatMap((u) => (u.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname)));
  for (const rule of alertRules()) assert.ok(fired.has(rule.alert!), `a unit test expects ${rule.alert} to fire`);
});

test('promtool check config accepts deploy/prometheus/prometheus.yml (Kubernetes discovery swapped for the static targets it would find)', (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  // Debian's Prometheus is built without Kubernetes service discovery, so its promtool rejects
  // kubernetes_sd_configs; everything else (relabeling, rule files) is checked as written.
  const dir = mkdtempSync(join(tmpdir(), 'cascade-prom-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const text = readFileSync(join(promDir, 'prometheus.yml'), 'utf8');
  const swapped = text.replace(/kubernetes_sd_configs:\n\s+- role: pod\n/, "static_configs:\n      - targets: ['127.0.0.1:8081']\n");
  assert.notEqual(swapped, text, 'the config discovers pods');
  writeFileSync(join(dir, 'prometheus.yml'), swapped);
  copyFileSync(alertsFile, join(dir, 'alerts.yml'));
  const r = promtool(['check', 'config', join(dir, 'prometheus.yml')]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /SUCCESS: 1 rule files found/);
});

test('deploy/grafana/cascade.json is a Grafana dashboard model: panels on the grid without overlap, queries on the Prometheus variable', () => {
  const d = dashboard();
  assert.equal(typeof d.uid, 'string');
  assert.ok(d.title && d.schemaVersion >= 36, 'a title and a current schema version');
  assert.ok(d.time.from && d.time.to);
  const variables = new Set(d.templating.list.map((v) => v.name));
  assert.ok(d.templating.list.some((v) => v.name === 'datasource' && v.type === 'datasource' && v.query === 'prometheus'));
  const panels = allPanels(d);
  assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, 'panel ids are unique');
  const kinds = new Set(['row', 'timeseries', 'stat', 'table', 'gauge', 'bargauge', 'state-timeline', 'text']);
  const cells = new Map<string, number>();
  for (const p of panels) {
    assert.ok(kinds.has(p.type), `panel ${p.id}: type ${p.type}`);
    assert.ok(p.title, `panel ${p.id} has a title`);
    const g = p.gridPos;
    assert.ok(Number.isInteger(g.x) && Number.isInteger(g.y) && g.w > 0 && g.h > 0 && g.x >= 0 && g.x + g.w <= 24, `panel ${p.id} fits the 24-column grid`);
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        const other = cells.get(`${x},${y}`);
        assert.equal(other, undefined, `panel ${p.id} overlaps panel ${other}`);
        cells.set(`${x},${y}`, p.id);
      }
    }
    if (p.type === 'row' || p.type === 'text') continue;
    assert.equal(p.datasource?.uid, '${datasource}', `panel ${p.id} queries the chosen Prometheus`);
    assert.ok(p.targets?.length, `panel ${p.id} has queries`);
    assert.equal(new Set(p.targets.map((q) => q.refId)).size, p.targets.length, `panel ${p.id}: refIds unique`);
    for (const q of p.targets) {
      assert.ok(q.expr.trim(), `panel ${p.id} ${q.refId} has an expression`);
      for (const v of q.expr.matchAll(/\$(\w+)/g)) assert.ok(v[1]!.startsWith('__') || variables.has(v[1]!), `panel ${p.id}: $${v[1]} is a variable`);
    }
  }
});

test('every query of the dashboard is valid PromQL (promtool, as recording rules)', (t) => {
  const missing = promtoolMissing();
  if (missing) return t.skip(missing);
  const dir = mkdtempSync(join(tmpdir(), 'cascade-dash-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const queries = dashboardQueries(dashboard()).filter((q) => !q.expr.startsWith('label_values('));
  const rules = { groups: [{ name: 'dashboard', rules: queries.map((q, i) => ({ record: `dashboard:query_${i}`, expr: asPromQL(q.expr) })) }] };
  writeFileSync(join(dir, 'dashboard-rules.json'), JSON.stringify(rules));
  const r = promtool(['check', 'rules', join(dir, 'dashboard-rules.json')]);
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, new RegExp(`SUCCESS: ${queries.length} rules found`));
});

test('every metric the alerts and the dashboard use is on some role\'s /metrics after traffic', async (t) => {
  const missing = (existsSync(cli) ? undefined : 'dist/cli.js not built (npm run build)') ?? (has('redis-server') ? undefined : 'no redis-server');
  if (missing) return t.skip(missing);
  const redis = await startRedis();
  t.after(() => redis.stop());
  const roles = await startRoles(redis.url);
  t.after(() => roles.stop());
  const publisher = await startLivePublisher(roles.origin, roles.token, 'live', 1);
  t.after(() => publisher.stop());
  await untilEdgesHealthy(roles.lb, roles.edges.map((e) => e.id));
  // Traffic: players through the LB (playlist, segment, a miss), an upload without the token.
  const playlist = await fetch(`${roles.lb}/hls/live/v.m3u8`);
  assert.equal(playlist.status, 200);
  const segment = (await playlist.text()).trim().split('\n').at(-1)!;
  assert.equal((await fetch(new URL(segment, playlist.url))).status, 200);
  assert.equal((await fetch(`${roles.lb}/hls/live/nope.ts`)).status, 404);
  assert.equal((await fetch(`${roles.origin}/hls/live/x.ts`, { method: 'PUT', body: 'x' })).status, 401);

  const exposed = new Set<string>();
  for (const url of [roles.origin, roles.lb, ...roles.edges.map((e) => e.url)]) {
    const body = await (await fetch(`${url}/metrics`)).text();
    for (const m of body.matchAll(/^# TYPE (\S+) (\w+)$/gm)) {
      exposed.add(m[1]!);
      if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exposed.add(m[1]! + s);
    }
    for (const m of body.matchAll(/^([a-z_:][a-z0-9_:]*)[{ ]/gm)) exposed.add(m[1]!);
  }
  const used = [...alertRules().map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })), ...dashboardQueries(dashboard())];
  let names = 0;
  for (const { where, expr } of used) {
    for (const name of metricNames(expr)) {
      assert.ok(exposed.has(name), `${where} uses ${name}, which no role exports`);
      names++;
    }
  }
  assert.ok(names > 50, `${names} metric uses checked`);
});


test('CascadeOriginUploadsFailing knows every rejection reason the origin has: the uploader\'s, or the origin\'s own', () => {
  // The origin's own trouble (a 5xx: a failing hook, a full disk) is what the alert must fire for; the
  // uploader's (a 4xx) it must not. Every reason the origin has is one or the other.
  const expr = alertRules().find((r) => r.alert === 'CascadeOriginUploadsFailing')!.expr;
  const uploaders = new RegExp(`^(?:${/reason!~"([^"]+)"/.exec(expr)![1]})$`);
  const reasons = Object.entries(REASON_STATUS);
  assert.ok(reasons.length >= 10, reasons.join(' '));
  for (const [reason, status] of reasons) {
    if (status >= 500) assert.ok(!uploaders.test(reason), `${reason} (${status}) is the origin's own: the alert fires for it`);
    else assert.ok(uploaders.test(reason), `rejection reason ${reason} (${status}): add it to the uploader's reasons in alerts.yml`);
  }
});
