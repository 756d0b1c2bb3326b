#!/usr/bin/env node
// Installs what a command needs on a fresh Debian machine: npm packages, and system tools via apt-get
// when run as root; otherwise prints the exact command to run. No dependencies: runs before `npm ci`.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const mode = process.argv[2] ?? 'test';

// tool on PATH -> Debian package
const TOOLS = {
  stack: { ffmpeg: 'ffmpeg', 'redis-server': 'redis-server' },
  test: { ffmpeg: 'ffmpeg', ffprobe: 'ffmpeg', 'redis-server': 'redis-server', chromium: 'chromium', 'docker-compose': 'docker-compose', promtool: 'prometheus' },
  bench: { ffmpeg: 'ffmpeg', 'redis-server': 'redis-server', nginx: 'nginx', haproxy: 'haproxy', wrk: 'wrk' },
};

const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 20 || (major === 20 && minor < 18)) {
  console.error(`cascade needs Node.js >= 20.18 (this is ${process.versions.node})`);
  process.exit(1);
}

function has(tool) {
  return spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0;
}

const wanted = TOOLS[mode] ?? TOOLS.test;
const missing = [...new Set(Object.entries(wanted).filter(([tool]) => !has(tool)).map(([, pkg]) => pkg))];
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

// npm packages: (re)install when node_modules is missing or older than package-lock.json.
const lock = readFileSync(join(root, 'package-lock.json'));
const digest = createHash('sha256').update(lock).digest('hex');
const stamp = join(root, 'node_modules', '.cascade-lock');
if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== digest) {
  console.error('setup: npm ci');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  writeFileSync(stamp, digest);
}

// k6 is built from its Go module (no prebuilt downloads); optional for tests, required for load tests.
// install-k6.sh does nothing when the pinned version is already built, so a version bump rebuilds.
if (mode === 'loadtest' || mode === 'test' || mode === 'bench') {
  if (has('go')) {
    spawnSync('bash', [join(root, 'loadtest', 'install-k6.sh')], { cwd: root, stdio: ['ignore', 'inherit', 'inherit'] });
  } else if (mode === 'loadtest') {
    console.error('setup: k6 is built with Go >= 1.21 (https://go.dev/dl/), then: bash loadtest/install-k6.sh');
    process.exit(1);
  } else {
    console.error('setup: no Go, so no k6: the k6 smoke test will be skipped');
  }
}
