// The observability files as data: the alert rules and the Grafana dashboard, and the PromQL in them.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseYaml, root } from './chart.js';

export const promDir = join(root, 'deploy', 'prometheus');
export const alertsFile = join(promDir, 'alerts.yml');
export const dashboardFile = join(root, 'deploy', 'grafana', 'cascade.json');

export interface Rule { alert?: string; record?: string; expr: string; for?: string; labels?: Record<string, string>; annotations?: Record<string, string> }
interface RuleFile { groups: { name: string; rules: Rule[] }[] }

export function alertRules(): Rule[] {
  return parseYaml<RuleFile>(readFileSync(alertsFile, 'utf8'))[0]!.groups.flatMap((g) => g.rules);
}

interface Target { refId: string; expr: string; datasource?: { uid: string } }
export interface Panel {
  id: number; type: string; title: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource?: { type: string; uid: string };
  targets?: Target[];
  panels?: Panel[];
}
export interface Dashboard {
  uid: string; title: string; schemaVersion: number; panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
  time: { from: string; to: string };
}

export function dashboard(): Dashboard {
  return JSON.parse(readFileSync(dashboardFile, 'utf8')) as Dashboard;
}

/** Every panel, rows' collapsed children included. */
export function allPanels(d: Dashboard): Panel[] {
  return d.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
}

/** The dashboard's PromQL (panel queries and template variable queries) as Prometheus sees it. */
export function dashboardQueries(d: Dashboard): { where: string; expr: string }[] {
  const panels = allPanels(d).flatMap((p) => (p.targets ?? []).map((t) => ({ where: `panel ${p.id} "${p.title}" ${t.refId}`, expr: t.expr })));
  const variables = d.templating.list.filter((v) => v.type === 'query')
    .map((v) => ({ where: `variable ${v.name}`, expr: typeof v.query === 'string' ? v.query : v.query.query }));
  return [...panels, ...variables];
}

/** Grafana's variables substituted as Grafana would before sending a query. */
export function asPromQL(expr: string): string {
  return expr.replaceAll('$__rate_interval', '1m').replaceAll('$__interval', '15s').replace(/\$(stream|edge)\b/g, '.*');
}

export const metricNames = (expr: string) => expr.match(/\bcascade_[a-z0-9_]+/g) ?? [];
