// The Helm chart as the tests see it: rendered by the real Helm (built by scripts/install-helm.sh),
// parsed into objects, validated by kubernetes-validate (scripts/install-kubernetes-validate.sh).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

export const root = new URL('../..', import.meta.url).pathname;
export const chartDir = join(root, 'deploy', 'helm', 'cascade');
export const helm = join(root, '.tools', 'bin', 'helm');
const venv = join(root, '.tools', 'venv', 'bin');
export const kubernetesValidate = join(venv, 'kubernetes-validate');

/** The Kubernetes versions the chart is rendered for and validated against: its oldest and the newest schema. */
export const KUBE_VERSIONS = ['1.25.0', '1.37.0'] as const;

export function helmMissing(): string | undefined {
  return existsSync(helm) ? undefined : 'no .tools/bin/helm: bash scripts/install-helm.sh (needs Go)';
}

export function validatorMissing(): string | undefined {
  return existsSync(kubernetesValidate) ? undefined : 'no kubernetes-validate: bash scripts/install-kubernetes-validate.sh';
}

/** The chart's value sets: the defaults, and every file in its ci/ directory (as chart-testing does). */
export function valueSets(): { name: string; files: string[] }[] {
  const ci = join(chartDir, 'ci');
  return [{ name: 'defaults', files: [] }, ...readdirSync(ci).filter((f) => f.endsWith('.yaml')).sort()
    .map((f) => ({ name: f.replace(/-values\.yaml$/, ''), files: [join(ci, f)] }))];
}

type Labels = Record<string, string>;

export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  hostNetwork?: boolean;
  dnsPolicy?: string;
  terminationGracePeriodSeconds?: number;
  affinity?: { podAntiAffinity?: Record<string, { topologyKey?: string; podAffinityTerm?: { topologyKey: string } }[]> };
  volumes?: { name: string }[];
  nodeSelector?: Labels;
}

/** The fields of the objects the chart renders that the tests read. */
export interface Spec {
  replicas?: number;
  selector?: { matchLabels: Labels } | Labels;
  template?: { metadata: { labels: Labels; annotations?: Labels }; spec: PodSpec };
  strategy?: { type: string; rollingUpdate?: { maxSurge: number; maxUnavailable: number } };
  minReadySeconds?: number;
  volumeClaimTemplates?: { metadata: { name: string }; spec: { storageClassName?: string } }[];
  maxUnavailable?: number;
  minAvailable?: number;
  ports?: { name: string; port: number; protocol?: string }[];
  type?: string;
  rules?: { host: string }[];
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Labels; annotations?: Labels };
  spec?: Spec;
  data?: Labels;
}

export interface Render {
  status: number | null;
  yaml: string;
  stderr: string;
}

export function helmRun(args: string[]): Render {
  const r = spawnSync(helm, args, { cwd: chartDir, encoding: 'utf8' });
  return { status: r.status, yaml: r.stdout, stderr: r.stderr };
}

/** `helm template` with value files and --set pairs. */
export function renderChart(files: string[] = [], sets: string[] = [], kubeVersion: string = KUBE_VERSIONS[1]): Render {
  return helmRun(['template', 'rel', '.', '--namespace', 'live', '--kube-version', kubeVersion,
    ...files.flatMap((f) => ['-f', f]), ...sets.flatMap((s) => ['--set', s])]);
}

/** Multi-document YAML -> objects (PyYAML, from the validator's virtualenv or the system's python3). */
export function parseYaml<T = K8sObject>(yaml: string): T[] {
  const python = existsSync(join(venv, 'python3')) ? join(venv, 'python3') : 'python3';
  const r = spawnSync(python, ['-c', 'import sys, yaml, json; json.dump([d for d in yaml.safe_load_all(sys.stdin) if d], sys.stdout)'],
    { input: yaml, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`YAML did not parse: ${r.stderr}`);
  return JSON.parse(r.stdout) as T[];
}

export function renderObjects(files: string[] = [], sets: string[] = []): K8sObject[] {
  const r = renderChart(files, sets);
  if (r.status !== 0) throw new Error(`helm template failed: ${r.stderr}`);
  return parseYaml(r.yaml);
}

export interface Probe {
  httpGet?: { path: string; port: string | number };
  exec?: { command: string[] };
  periodSeconds?: number;
}

export interface Container {
  name: string;
  args?: string[];
  command?: string[];
  env?: { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string }; fieldRef?: { fieldPath: string } } }[];
  lifecycle?: { preStop?: { exec?: { command: string[] } } };
  ports?: { name: string; containerPort: number; hostPort?: number; protocol?: string }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}

export const WORKLOAD_KINDS = new Set(['Deployment', 'DaemonSet', 'StatefulSet']);

export function workloads(objects: K8sObject[]): K8sObject[] {
  return objects.filter((o) => WORKLOAD_KINDS.has(o.kind));
}

export function component(o: K8sObject): string | undefined {
  return o.metadata.labels?.['app.kubernetes.io/component'];
}

/** The one workload of a component (throws when there is none or several). */
export function workload(objects: K8sObject[], name: string): K8sObject {
  const found = workloads(objects).filter((o) => component(o) === name);
  if (found.length !== 1) throw new Error(`expected one ${name} workload, found ${found.length}`);
  return found[0]!;
}

export function podSpec(o: K8sObject): PodSpec {
  const spec = o.spec?.template?.spec;
  if (!spec) throw new Error(`${o.kind} ${o.metadata.name} has no pod template`);
  return spec;
}

export function mainContainer(o: K8sObject): Container {
  return podSpec(o).containers[0]!;
}

export function envOf(c: Container): Record<string, string | undefined> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
}
