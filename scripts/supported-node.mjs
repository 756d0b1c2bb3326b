// Which Node cascade runs on: at least package.json's `engines` floor. On a machine whose own Node is
// older, scripts/setup.mjs installs the LTS pinned in scripts/node-runtime into .tools/node, and the
// scripts run on that one. Plain JavaScript with no dependencies: it runs on old Nodes too.
import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const engines = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node;
const floorMatch = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(engines);
if (!floorMatch) throw new Error(`package.json engines.node must read ">=X.Y.Z", not ${JSON.stringify(engines)}`);

/** The oldest supported Node, as "22.19.0". */
export const floor = floorMatch.slice(1).join('.');

export function isSupported(version = process.versions.node) {
  const have = version.replace(/^v/, '').split('.').map(Number);
  const want = floorMatch.slice(1).map(Number);
  for (let i = 0; i < 3; i++) if (have[i] !== want[i]) return have[i] > want[i];
  return true;
}

export const toolsNodeDir = join(root, '.tools', 'node');
/** The tools Node's executable; its folder is what goes first on PATH. */
export const toolsNode = join(toolsNodeDir, 'bin', 'node');

/** `env` with the tools Node's folder first on PATH, so that `node` and npm's scripts run on it. */
export function toolsNodeFirst(env = process.env) {
  return { ...env, PATH: `${dirname(toolsNode)}${delimiter}${env.PATH ?? ''}` };
}
