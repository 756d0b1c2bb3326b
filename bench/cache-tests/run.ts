// Runs the HTTP caching conformance suite behind cache-tests.fyi (github.com/http-tests/cache-tests)
// against a cascade edge, nginx proxy_cache and Varnish side by side, each in front of the suite's own
// test server, and prints passes and failures per category (the table in docs/edge.md).
//
//   CACHE_TESTS_DIR=/path/to/cache-tests node --import tsx bench/cache-tests/run.ts [edge,nginx,varnish]
//
// The suite is not part of this repository (nor of `npm test`: CI cannot fetch it). Its CLI and server
// need no npm packages. The cascade edge runs from dist/ (`npm run build` first) behind edge-adapter.ts,
// which maps the suite's paths onto /hls/<stream>/<path>; nginx and Varnish need `nginx` and `varnishd`
// on PATH. Raw results and the table are written to CACHE_TESTS_OUT (default: a temp directory).
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { freePort, startChild, type Child } from '../../test/helpers/process.js';
import { startEdgeAdapter } from './edge-adapter.js';

const here = dirname(fileURLToPath(import.meta.url));
const suite = resolve(process.env.CACHE_TESTS_DIR ?? '');
if (!process.env.CACHE_TESTS_DIR || !existsSync(join(suite, 'test-engine', 'cli.mjs'))) {
  console.error('set CACHE_TESTS_DIR to a checkout of github.com/http-tests/cache-tests (no npm install needed)');
  process.exit(2);
}
// Only the interim-response tests import a package (undici); lend them ours rather than install anything.
if (!existsSync(join(suite, 'node_modules'))) symlinkSync(join(here, '..', '..', 'node_modules'), join(suite, 'node_modules'), 'dir');
const targets = (process.argv[2] ?? 'edge,nginx,varnish').split(',');
/** CACHE_TESTS_ID=<test id>: that one test, with the suite's request/response dump on stderr. */
const only = process.env.CACHE_TESTS_ID ?? '';
const out = process.env.CACHE_TESTS_OUT ?? mkdtempSync(join(tmpdir(), 'cache-tests-'));
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), 'cache-tests-work-'));
chmodSync(work, 0o777); // nginx workers and varnishd's children run unprivileged when started by root

/** What the current target runs: processes, and the edge adapter. */
const children: Child[] = [];
const cleanups: (() => Promise<void>)[] = [];
async function stopTarget(): Promise<void> {
  for (const c of cleanups.splice(0)) await c();
  for (const c of children.splice(0)) await c.kill();
}

/** The suite's server, bound to loopback (loopback.mjs), on a free port. */
async function startTestServer(): Promise<{ child: Child; url: string }> {
  const port = await freePort();
  const child = startChild(process.execPath, ['--import', pathToFileURL(join(here, 'loopback.mjs')).href, join(suite, 'test-engine/server/server.mjs')], {
    cwd: suite,
    env: { ...process.env, npm_config_protocol: 'http', npm_config_port: String(port), npm_config_pidfile: join(work, 'server.pid') },
  });
  await child.waitFor(/Listening on/);
  return { child, url: `http://127.0.0.1:${port}` };
}

/** One run of the suite's CLI against `base`: its JSON results. */
function runSuite(base: string): Promise<Record<string, true | [string, string]>> {
  return new Promise((resolveRun, reject) => {
    const cli = spawn(process.execPath, ['--no-warnings', join(suite, 'test-engine/cli.mjs')], {
      cwd: suite,
      env: { ...process.env, npm_config_base: base, npm_config_id: only, npm_package_config_id: only },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let text = '';
    cli.stdout.on('data', (d: Buffer) => { text += d.toString(); });
    cli.on('close', (code) => {
      if (only !== '') {
        process.stderr.write(text);
        return resolveRun({});
      }
      const json = text.slice(text.indexOf('{'));
      try { resolveRun(JSON.parse(json)); } catch { reject(new Error(`cli exited ${code}: ${text.slice(0, 500)}`)); }
    });
  });
}

async function startTarget(name: string, origin: string): Promise<string> {
  const originHostPort = origin.slice('http://'.length);
  const port = await freePort();
  if (name === 'edge') {
    let edgeUrl = '';
    const adapter = await startEdgeAdapter(origin, () => edgeUrl);
    cleanups.push(adapter.close);
    const edge = startChild(process.execPath, [join(here, '..', '..', 'dist', 'cli.js'), 'edge', '--workers', '1', '--port', String(port), '--origin', adapter.back, '--id', 'cache-tests']);
    children.push(edge);
    await edge.waitFor(/listening on/);
    edgeUrl = `http://127.0.0.1:${port}`;
    return adapter.front;
  }
  if (name === 'nginx') {
    const dir = join(work, 'nginx');
    mkdirSync(join(dir, 'cache'), { recursive: true, mode: 0o777 });
    chmodSync(dir, 0o777);
    writeFileSync(join(dir, 'nginx.conf'), readFileSync(join(here, 'nginx.conf'), 'utf8')
      .replaceAll('@DIR@', dir).replaceAll('@PORT@', String(port)).replaceAll('@ORIGIN@', originHostPort));
    children.push(startChild('nginx', ['-p', dir, '-e', join(dir, 'error.log'), '-c', join(dir, 'nginx.conf')]));
  } else if (name === 'varnish') {
    const dir = join(work, 'varnish');
    mkdirSync(dir, { recursive: true, mode: 0o777 });
    writeFileSync(join(dir, 'default.vcl'), readFileSync(join(here, 'varnish.vcl'), 'utf8').replaceAll('@ORIGIN_PORT@', originHostPort.split(':')[1]!));
    children.push(startChild('varnishd', ['-F', '-f', join(dir, 'default.vcl'), '-a', `127.0.0.1:${port}`, '-n', dir, '-s', 'malloc,64m']));
  } else {
    throw new Error(`unknown target ${name}`);
  }
  await waitForPort(port);
  return `http://127.0.0.1:${port}`;
}

async function waitForPort(port: number): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      await fetch(`http://127.0.0.1:${port}/`);
      return;
    } catch { await new Promise((r) => setTimeout(r, 200)); }
  }
  throw new Error(`nothing listening on ${port}`);
}

interface SuiteMeta { id: string; name: string; tests: { id: string }[] }
const { default: suites } = await import(pathToFileURL(join(suite, 'tests/index.mjs')).href) as { default: SuiteMeta[] };
const { determineTestResult, resultTypes } = await import(pathToFileURL(join(suite, 'test-engine/lib/results.mjs')).href) as {
  determineTestResult: (s: SuiteMeta[], id: string, r: object, deps?: boolean) => string[];
  resultTypes: Record<string, string[]>;
};

/**
 * Per category: pass (✅, and checks answered "yes"), fail (⛔️: a conformance failure), not optimal (⚠️:
 * a response not reused where it could be), other (checks answered "no", setup and harness failures).
 */
function summarise(results: Record<string, unknown>): Map<string, { pass: number; fail: number; optional: number; other: number; failed: string[] }> {
  const rows = new Map<string, { pass: number; fail: number; optional: number; other: number; failed: string[] }>();
  for (const s of suites) {
    const row = { pass: 0, fail: 0, optional: 0, other: 0, failed: [] as string[] };
    for (const t of s.tests) {
      if (!(t.id in results)) continue;
      const r = determineTestResult(suites, t.id, results, false);
      if (r === resultTypes.pass || r === resultTypes.yes) row.pass++;
      else if (r === resultTypes.fail) { row.fail++; row.failed.push(t.id); } else if (r === resultTypes.optional_fail) row.optional++;
      else row.other++;
    }
    rows.set(s.name, row);
  }
  return rows;
}

const all: Record<string, ReturnType<typeof summarise>> = {};
let server: Child | undefined;
try {
  const base = await startTestServer().then((started) => { server = started.child; return started.url; });
  for (const name of targets) {
    const url = await startTarget(name, base);
    console.error(`running the suite against ${name} (${url})`);
    const results = await runSuite(url);
    writeFileSync(join(out, `${name}.json`), JSON.stringify(results, null, 2));
    all[name] = summarise(results);
    await stopTarget();
  }
} finally {
  await stopTarget();
  await server?.kill();
  rmSync(work, { recursive: true, force: true });
}

const header = `| category | ${targets.map((t) => `${t} ✅ / ⛔️ / ⚠️ / other`).join(' | ')} |\n|---|${targets.map(() => '---:').join('|')}|\n`;
const lines = [...all[targets[0]!]!.keys()].map((cat) => `| ${cat} | ${targets.map((t) => {
  const r = all[t]!.get(cat)!;
  return `${r.pass} / ${r.fail} / ${r.optional} / ${r.other}`;
}).join(' | ')} |`);
const failed = targets.map((t) => `${t} ⛔️: ${[...all[t]!.values()].flatMap((r) => r.failed).join(', ') || 'none'}`);
const table = header + lines.join('\n') + '\n\n' + failed.join('\n\n') + '\n';
writeFileSync(join(out, 'summary.md'), table);
console.log(table);
console.error(`raw results in ${out}`);
