// deploy/helm/cascade checked with the real tools: `helm lint` and `helm template` (Helm built from its
// Go module) over every value set, the manifests validated against the Kubernetes schemas offline
// (kubernetes-validate), and what no schema sees: every CASCADE_* variable is an option of its role
// (from --help), selectors select, the drain on preStop fits in the grace period, values pass through.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  component, envOf, helmMissing, helmRun, KUBE_VERSIONS, kubernetesValidate, mainContainer, podSpec,
  renderChart, renderObjects, root, validatorMissing, valueSets, workload, workloads,
  type Container, type K8sObject,
} from './helpers/chart.js';

const cli = join(root, 'dist', 'cli.js');
const ROLES = ['origin', 'edge', 'lb', 'transcoder'] as const;

/**
 * Options the chart already passes for features other branches are adding: the origin's object storage
 * (`--storage s3://...`). A test below fails once --help lists one, so it leaves this list then.
 */
const PENDING_OPTIONS: Record<string, string[]> = {};

const sets = valueSets();
const setFiles = (name: string) => sets.find((s) => s.name === name)!.files;

function helpVariables(script: string, command: string): Set<string> {
  const help = spawnSync(process.execPath, [script, command, '--help'], { encoding: 'utf8' });
  assert.equal(help.status, 0, `${command} --help: ${help.stderr}`);
  return new Set(help.stdout.match(/CASCADE_[A-Z0-9_]+/g) ?? []);
}

/** The CLI command a container runs: ['dist/cli.js', 'edge'] -> cli + edge. */
function commandOf(c: Container): { script: string; command: string } {
  const [script, command] = c.args ?? [];
  assert.ok(script && command, `${c.name} runs a cascade command: ${JSON.stringify(c.args)}`);
  return { script: join(root, script), command };
}

/** `node dist/cli.js <ops command>` inside the shell scripts of hooks and init containers. */
function opsCommandsIn(c: Container): string[] {
  const scripts = [...(c.command ?? []), ...(c.lifecycle?.preStop?.exec?.command ?? [])].join('\n');
  return [...scripts.matchAll(/node dist\/cli\.js (\w+)/g)].map((m) => m[1]!);
}

function allContainers(o: K8sObject): Container[] {
  const spec = podSpec(o);
  return [...(spec.initContainers ?? []), ...spec.containers];
}

test('helm lint --strict passes for every value set', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  for (const set of sets) {
    const r = helmRun(['lint', '--strict', '.', '--kube-version', KUBE_VERSIONS[1], ...set.files.flatMap((f) => ['-f', f])]);
    assert.equal(r.status, 0, `${set.name}: ${r.yaml}${r.stderr}`);
    assert.match(r.yaml, /1 chart\(s\) linted, 0 chart\(s\) failed/);
  }
});

test('every value set renders, for the oldest and newest Kubernetes the chart supports, and kubernetes-validate --strict accepts every object offline', (t) => {
  const missing = helmMissing() ?? validatorMissing();
  if (missing) return t.skip(missing);
  const dir = mkdtempSync(join(tmpdir(), 'cascade-chart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  let validated = 0;
  for (const set of sets) {
    for (const version of KUBE_VERSIONS) {
      const r = renderChart(set.files, [], version);
      assert.equal(r.status, 0, `${set.name} @ ${version}: ${r.stderr}`);
      const file = join(dir, `${set.name}-${version}.yaml`);
      writeFileSync(file, r.yaml);
      const v = spawnSync(kubernetesValidate, ['--strict', '--kubernetes-version', version, file], { encoding: 'utf8' });
      const lines = v.stdout.trim().split('\n');
      const bad = lines.filter((l) => !l.startsWith('INFO '));
      // A kind without a schema is only a warning to the tool: for the chart it is a failure (no CRDs).
      assert.deepEqual(bad, [], `${set.name} @ ${version}:\n${v.stdout}${v.stderr}`);
      assert.equal(v.status, 0, `${set.name} @ ${version}: ${v.stderr}`);
      assert.ok(lines.length >= 10, `${set.name}: validated ${lines.length} objects`);
      validated += lines.length;
    }
  }
  t.diagnostic(`kubernetes-validate: ${validated} objects in ${sets.length} value sets x ${KUBE_VERSIONS.length} versions`);
});

test('kubernetes-validate catches what it should: a wrong type and an unknown field in a rendered Deployment', (t) => {
  const missing = helmMissing() ?? validatorMissing();
  if (missing) return t.skip(missing);
  const dir = mkdtempSync(join(tmpdir(), 'cascade-chart-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const yaml = renderChart().yaml;
  for (const [what, broken] of [
    ['type', yaml.replace(/^ {2}replicas: 2$/m, '  replicas: "two"')],
    ['unknown field', yaml.replace(/^( +)minReadySeconds: 5$/m, '$1minReadySecond: 5')],
  ] as const) {
    assert.notEqual(broken, yaml, `the ${what} mutation applies`);
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, broken);
    const v = spawnSync(kubernetesValidate, ['--strict', '--kubernetes-version', KUBE_VERSIONS[1], file], { encoding: 'utf8' });
    assert.equal(v.status, 1, `${what}: ${v.stdout}`);
    assert.match(v.stdout, /ERROR .*deployment\/rel-cascade-edge/);
  }
});

test('every CASCADE_* variable the chart gives a role is an option of that role (from its --help)', (t) => {
  const missing = helmMissing() ?? (existsSync(cli) ? undefined : 'dist/cli.js not built (npm run build)');
  if (missing) return t.skip(missing);
  const help = new Map<string, Set<string>>();
  const helpOf = (script: string, command: string) => {
    const key = `${script} ${command}`;
    if (!help.has(key)) help.set(key, helpVariables(script, command));
    return help.get(key)!;
  };
  const checked = new Set<string>();
  for (const set of sets) {
    for (const o of workloads(renderObjects(set.files))) {
      const role = component(o)!;
      if (role === 'redis') continue;
      for (const c of podSpec(o).containers) {
        const { script, command } = commandOf(c);
        const known = helpOf(script, command);
        for (const name of Object.keys(envOf(c)).filter((n) => n.startsWith('CASCADE_'))) {
          if (PENDING_OPTIONS[role]?.includes(name)) continue;
          assert.ok(known.has(name), `${set.name}: ${command} --help lists ${name} (given to ${o.kind} ${o.metadata.name})`);
          checked.add(`${command}:${name}`);
        }
      }
      // Ops commands in preStop hooks and init containers read the Redis URL from the same environment.
      for (const c of allContainers(o)) {
        for (const op of opsCommandsIn(c)) {
          assert.ok(helpOf(cli, op).has('CASCADE_REDIS'), `cascade ${op} reads CASCADE_REDIS`);
          assert.ok('CASCADE_REDIS' in envOf(c), `${set.name}: ${o.metadata.name}/${c.name} runs cascade ${op} with CASCADE_REDIS`);
        }
      }
    }
  }
  t.diagnostic(`${checked.size} role/variable pairs checked`);
});

test('options the chart passes ahead of their role (PENDING_OPTIONS) are still missing from --help', (t) => {
  if (!existsSync(cli)) return t.skip('dist/cli.js not built (npm run build)');
  for (const [role, names] of Object.entries(PENDING_OPTIONS)) {
    const known = helpVariables(cli, role);
    for (const name of names) assert.ok(!known.has(name), `${role} now takes ${name}: remove it from PENDING_OPTIONS`);
  }
});

test('in every value set: selectors select their pods, a PodDisruptionBudget per role, /healthz probes, Kubernetes-valid names', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  const dns1123 = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
  for (const set of sets) {
    const objects = renderObjects(set.files);
    const pods = workloads(objects);
    for (const o of objects) {
      assert.match(o.metadata.name, dns1123, `${set.name}: ${o.kind} name`);
      if (o.kind === 'Service') assert.ok(o.metadata.name.length <= 63, `${set.name}: Service ${o.metadata.name} is a DNS label`);
    }
    for (const o of pods) {
      const selector = (o.spec!.selector as { matchLabels: Record<string, string> }).matchLabels;
      const labels = o.spec!.template!.metadata.labels;
      for (const [k, v] of Object.entries(selector)) assert.equal(labels[k], v, `${set.name}: ${o.metadata.name} selects its own pods`);
    }
    const selects = (sel: Record<string, string>, o: K8sObject) => Object.entries(sel).every(([k, v]) => o.spec!.template!.metadata.labels[k] === v);
    for (const svc of objects.filter((o) => o.kind === 'Service')) {
      assert.ok(pods.some((p) => selects(svc.spec!.selector as Record<string, string>, p)), `${set.name}: Service ${svc.metadata.name} selects a workload`);
    }
    const pdbs = objects.filter((o) => o.kind === 'PodDisruptionBudget');
    for (const role of ROLES) {
      const rolePods = pods.filter((p) => component(p) === role);
      assert.ok(rolePods.length > 0, `${set.name}: a ${role}`);
      const pdb = pdbs.filter((p) => rolePods.every((w) => selects((p.spec!.selector as { matchLabels: Record<string, string> }).matchLabels, w)));
      assert.equal(pdb.length, 1, `${set.name}: one PodDisruptionBudget covers every ${role}`);
      assert.ok(pdb[0]!.spec!.maxUnavailable !== undefined || pdb[0]!.spec!.minAvailable !== undefined);
    }
    for (const role of ['origin', 'edge', 'lb']) {
      const c = mainContainer(workload(objects, role));
      for (const probe of [c.readinessProbe, c.livenessProbe]) {
        assert.equal(probe?.httpGet?.path, '/healthz', `${set.name}: ${role} probes /healthz`);
        assert.ok(c.ports?.some((p) => p.name === probe?.httpGet?.port && p.containerPort === Number(envOf(c).CASCADE_PORT)), `${set.name}: ${role} probes the port it listens on`);
      }
      assert.equal(workload(objects, role).spec!.template!.metadata.annotations?.['prometheus.io/port'], envOf(c).CASCADE_PORT, `${set.name}: ${role} is scraped on its port`);
    }
    // Kubernetes expands $(VAR) only for variables defined earlier in the same list.
    for (const o of pods) {
      for (const c of allContainers(o)) {
        const names: string[] = [];
        for (const e of c.env ?? []) {
          for (const ref of (e.value ?? '').matchAll(/\$\((\w+)\)/g)) assert.ok(names.includes(ref[1]!), `${set.name}: ${c.name} ${e.name} uses $(${ref[1]}) defined before it`);
          names.push(e.name);
        }
      }
    }
  }
});

test('edge drain on preStop: its own id is drained, then it waits two target durations, all inside the grace period', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  for (const [set, extra] of [['defaults', []], ['segmentSeconds=6', ['segmentSeconds=6']], ['waitSeconds=20', ['edge.drain.waitSeconds=20', 'edge.shutdownGraceSeconds=30']]] as const) {
    const edge = workload(renderObjects([], [...extra]), 'edge');
    const spec = podSpec(edge);
    const c = mainContainer(edge);
    const env = envOf(c);
    const preStop = c.lifecycle?.preStop?.exec?.command ?? [];
    assert.deepEqual(preStop.slice(0, 2), ['sh', '-c'], set);
    const m = /^node dist\/cli\.js drain "\$CASCADE_ID" \|\| true; sleep (\d+)$/.exec(preStop[2] ?? '');
    assert.ok(m, `${set}: preStop drains the edge's own id, then sleeps: ${preStop[2]}`);
    const wait = Number(m[1]);
    const segment = set === 'segmentSeconds=6' ? 6 : 2;
    assert.ok(wait >= 2 * segment, `${set}: waits ${wait} s >= two target durations`);
    if (set === 'waitSeconds=20') assert.equal(wait, 20);
    const grace = Number(/^(\d+)s$/.exec(env.CASCADE_SHUTDOWN_GRACE ?? '')?.[1]);
    assert.ok(spec.terminationGracePeriodSeconds! > wait + grace, `${set}: grace period ${spec.terminationGracePeriodSeconds} s > drain wait ${wait} s + shutdown grace ${grace} s`);
    // The id it drains is the one it registers: the pod name, from the downward API.
    assert.equal(env.CASCADE_ID, '$(POD_NAME)');
    assert.equal(c.env!.find((e) => e.name === 'POD_NAME')?.valueFrom?.fieldRef?.fieldPath, 'metadata.name');
    assert.equal(env.CASCADE_PUBLIC_URL, 'http://$(POD_IP):8081');
    assert.match(env.CASCADE_LB ?? '', /^http:\/\/rel-cascade-lb\.live\.svc\.cluster\.local:80$/, 'draining players go back to the LB');
  }
});

test('defaults: edges are a Deployment spread by pod anti-affinity, surge before drain; one origin in memory; a Redis in the release', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  const objects = renderObjects();
  const edge = workload(objects, 'edge');
  assert.equal(edge.kind, 'Deployment');
  assert.equal(edge.spec!.replicas, 2);
  assert.deepEqual(edge.spec!.strategy!.rollingUpdate, { maxSurge: 1, maxUnavailable: 0 });
  const anti = podSpec(edge).affinity?.podAntiAffinity?.preferredDuringSchedulingIgnoredDuringExecution;
  assert.equal(anti?.[0]?.podAffinityTerm?.topologyKey, 'kubernetes.io/hostname');
  assert.equal(podSpec(edge).hostNetwork, undefined);
  assert.equal(podSpec(edge).initContainers, undefined, 'pod-name ids need no undrain at start');
  const env = envOf(mainContainer(edge));
  assert.equal(env.CASCADE_ORIGIN, 'http://rel-cascade-origin-0.rel-cascade-origin-headless.live.svc.cluster.local:8090');
  assert.equal(env.CASCADE_REDIS, 'redis://rel-cascade-redis.live.svc.cluster.local:6379');
  const origin = workload(objects, 'origin');
  assert.equal(origin.kind, 'StatefulSet');
  assert.equal(envOf(mainContainer(origin)).CASCADE_DATA_DIR, undefined);
  assert.equal(origin.spec!.volumeClaimTemplates, undefined);
  assert.equal(workload(objects, 'redis').kind, 'StatefulSet');
  // The generated upload token: one Secret, read by the origin and the transcoder alike.
  const secret = objects.find((o) => o.kind === 'Secret')!;
  assert.equal(Buffer.from(secret.data!.token!, 'base64').toString().length, 40);
  for (const role of ['origin', 'transcoder']) {
    const ref = mainContainer(workload(objects, role)).env!.find((e) => e.name === 'CASCADE_UPLOAD_TOKEN')?.valueFrom?.secretKeyRef;
    assert.deepEqual(ref, { name: secret.metadata.name, key: 'token' }, role);
  }
  assert.equal(envOf(mainContainer(workload(objects, 'transcoder'))).CASCADE_ORIGIN, env.CASCADE_ORIGIN);
  assert.equal(objects.find((o) => o.kind === 'Ingress'), undefined);
});

test('daemonset-hostnetwork: one edge per node on the node network, stable node-name ids, weights and edge groups', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  const objects = renderObjects(setFiles('daemonset-hostnetwork'));
  const edge = workload(objects, 'edge');
  const spec = podSpec(edge);
  assert.equal(edge.kind, 'DaemonSet');
  assert.equal(spec.hostNetwork, true);
  assert.equal(spec.dnsPolicy, 'ClusterFirstWithHostNet', 'a host-network pod still resolves the origins');
  assert.deepEqual(spec.nodeSelector, { 'cascade.example.org/edge': 'true' });
  const c = mainContainer(edge);
  assert.deepEqual(c.ports, [{ name: 'http', containerPort: 8081, hostPort: 8081 }]);
  const env = envOf(c);
  assert.equal(env.CASCADE_ID, '$(NODE_NAME)');
  assert.equal(env.CASCADE_PUBLIC_URL, 'http://$(NODE_NAME).edges.example.org:8081');
  assert.equal(env.CASCADE_LB, 'https://hls.example.org');
  assert.equal(env.CASCADE_CACHE_SIZE, '2g');
  // A restarted edge keeps its id, so it undoes its predecessor's drain and takes the chart's weight.
  const init = spec.initContainers?.[0];
  assert.ok(init);
  const script = init.command!.join(' ');
  assert.match(script, /node dist\/cli\.js undrain "\$CASCADE_ID" \|\| true/);
  assert.match(script, /node dist\/cli\.js weight "\$CASCADE_ID" "\$w" \|\| true/);
  assert.deepEqual({ id: envOf(init).CASCADE_ID, w: envOf(init).EDGE_WEIGHT, ws: envOf(init).EDGE_WEIGHTS }, { id: '$(NODE_NAME)', w: '100', ws: 'node-a=200 node-b=50' });
  const lb = envOf(mainContainer(workload(objects, 'lb')));
  assert.equal(lb.CASCADE_EDGE_GROUP, 'onsite=node-a+node-b@94.45.224.0/19+2001:67c:20a1::/48');
  assert.equal(lb.CASCADE_EDGE, 'relay-1=https://relay-1.example.org@50');
  assert.equal(lb.CASCADE_TRUST_PROXY, 'true');
  assert.equal(lb.CASCADE_HEALTH_INTERVAL, '500ms');
  const ingress = objects.find((o) => o.kind === 'Ingress');
  assert.equal(ingress?.spec!.rules?.[0]?.host, 'hls.example.org');
});

test('the weight script of the init container picks the per-id weight, else the default, else none', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  const init = podSpec(workload(renderObjects(setFiles('daemonset-hostnetwork')), 'edge')).initContainers![0]!;
  // Run the real script with `node` standing in for the CLI: it prints the commands it would run.
  const dir = mkdtempSync(join(tmpdir(), 'cascade-init-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'node'), '#!/bin/sh\necho "$@"\n', { mode: 0o755 });
  const run = (id: string, weight: string, weights: string) => spawnSync('sh', ['-c', init.command![2]!], {
    encoding: 'utf8', env: { PATH: `${dir}:/usr/bin:/bin`, CASCADE_ID: id, EDGE_WEIGHT: weight, EDGE_WEIGHTS: weights },
  }).stdout.trim().split('\n');
  assert.deepEqual(run('node-b', '100', 'node-a=200 node-b=50'), ['dist/cli.js undrain node-b', 'dist/cli.js weight node-b 50']);
  assert.deepEqual(run('node-c', '100', 'node-a=200 node-b=50'), ['dist/cli.js undrain node-c', 'dist/cli.js weight node-c 100']);
  assert.deepEqual(run('node-c', '', 'node-a=200'), ['dist/cli.js undrain node-c']);
});

test('external Redis, Sentinel URL, Redis URL from a Secret: no Redis in the release, every role gets the URL unchanged', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  for (const [set, expected] of [
    ['external-redis', 'redis://:s3cret@redis.example.org:6379/2'],
    ['redis-sentinel', 'redis-sentinel://sentinel-0.redis.example.org:26379,sentinel-1.redis.example.org:26379/mymaster'],
    ['s3-storage', { name: 'cascade-redis', key: 'url' }],
  ] as const) {
    const objects = renderObjects(setFiles(set));
    assert.ok(!workloads(objects).some((o) => component(o) === 'redis'), `${set}: no Redis workload`);
    assert.ok(!objects.some((o) => o.kind === 'Service' && /redis/.test(o.metadata.name)), `${set}: no Redis Service`);
    for (const role of ['edge', 'lb']) {
      const e = mainContainer(workload(objects, role)).env!.find((v) => v.name === 'CASCADE_REDIS')!;
      if (typeof expected === 'string') assert.equal(e.value, expected, `${set}: ${role}`);
      else assert.deepEqual(e.valueFrom?.secretKeyRef, expected, `${set}: ${role}`);
    }
  }
  const external = renderObjects(setFiles('external-redis'));
  for (const role of ['edge', 'lb']) assert.equal(envOf(mainContainer(workload(external, role))).CASCADE_REDIS_PREFIX, 'event:');
  const edge = workload(external, 'edge');
  assert.equal(podSpec(edge).affinity?.podAntiAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.[0]?.topologyKey, 'kubernetes.io/hostname');
  assert.deepEqual(edge.spec!.strategy!.rollingUpdate, { maxSurge: 0, maxUnavailable: 1 }, 'hard anti-affinity leaves no node for a surge pod');
});

test('pvc-storage: every origin has its volume as --data-dir, edges fail over between origins in order, a transcoder per origin feeds each the stream', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  const objects = renderObjects(setFiles('pvc-storage'));
  const origin = workload(objects, 'origin');
  assert.equal(origin.spec!.replicas, 2);
  assert.equal(origin.spec!.volumeClaimTemplates?.[0]?.metadata.name, 'data');
  assert.equal(origin.spec!.volumeClaimTemplates?.[0]?.spec.storageClassName, 'fast-ssd');
  const oc = mainContainer(origin) as Container & { volumeMounts?: { name: string; mountPath: string }[] };
  assert.equal(envOf(oc).CASCADE_DATA_DIR, '/data');
  assert.deepEqual(oc.volumeMounts, [{ name: 'data', mountPath: '/data' }]);
  assert.equal(envOf(oc).CASCADE_SEGMENT_GRACE, '60s');
  const url = (i: number) => `http://rel-cascade-origin-${i}.rel-cascade-origin-headless.live.svc.cluster.local:8090`;
  assert.equal(envOf(mainContainer(workload(objects, 'edge'))).CASCADE_ORIGIN, `${url(0)},${url(1)}`);
  const transcoders = workloads(objects).filter((o) => component(o) === 'transcoder');
  assert.deepEqual(transcoders.map((o) => [o.metadata.name, envOf(mainContainer(o)).CASCADE_STREAM, envOf(mainContainer(o)).CASCADE_ORIGIN, envOf(mainContainer(o)).CASCADE_INPUT]), [
    ['rel-cascade-ingest-hall-1', 'hall_1', url(0), 'rtmp'], ['rel-cascade-ingest-hall-1-o1', 'hall_1', url(1), 'srt']]);
  const ingest = objects.filter((o) => o.kind === 'Service' && o.metadata.name.includes('ingest'));
  assert.deepEqual(ingest.map((s) => [s.spec!.type, s.spec!.ports!.map((p) => `${p.port}/${p.protocol}`)]), [['LoadBalancer', ['1935/TCP']], ['NodePort', ['9000/UDP']]]);
  for (const o of [origin, ...transcoders]) {
    assert.deepEqual(mainContainer(o).env!.find((e) => e.name === 'CASCADE_UPLOAD_TOKEN')?.valueFrom?.secretKeyRef, { name: 'cascade-upload', key: 'token' });
  }
  assert.ok(!objects.some((o) => o.kind === 'Secret'), 'an existing Secret: the chart makes none');
  const source = envOf(mainContainer(workload(objects, 'test-source')));
  assert.equal(source.CASCADE_TO, 'rtmp://rel-cascade-ingest-hall-1.live.svc.cluster.local:1935/live/hall_1');
  assert.ok(workload(objects, 'redis').spec!.volumeClaimTemplates, 'Redis keeps weights and drains on a volume');
});

test('bad values fail `helm template` with one clear message', (t) => {
  const missing = helmMissing();
  if (missing) return t.skip(missing);
  const cases: [string[], RegExp][] = [
    [['redis.enabled=false'], /set redis\.enabled, redis\.url or redis\.existingSecret/],
    [['origin.storage.type=disk'], /origin\.storage\.type must be memory, pvc or s3/],
    [['origin.storage.type=s3'], /needs origin\.storage\.s3Url/],
    [['edge.kind=StatefulSet'], /edge\.kind must be Deployment or DaemonSet/],
    [['edge.id=nodeName'], /edge\.id nodeName needs one edge per node/],
    [['edge.weight=heavy'], /edge\.weight: not a whole number/],
    [['edge.weights.e\\.1=-3'], /edge\.weights\.e\.1: not a whole number/],
    [['transcoders[0].stream=demo', 'transcoders[0].origin=1'], /origin 1, but origin\.replicas is 1/],
    [['lb.edgeGroups[0].name=onsite'], /every group needs name, edges and cidrs/],
    [['transcoders[0].stream=demo', 'transcoders[1].stream=demo'], /two entries map to the name rel-cascade-ingest-demo \(one transcoder per stream and origin\)/],
  ];
  for (const [sets, message] of cases) {
    const r = renderChart([], sets);
    assert.notEqual(r.status, 0, `${sets.join(' ')} renders`);
    assert.match(r.stderr, message, sets.join(' '));
  }
});
