// `npm run bench`: runs every bench/*.bench.ts in turn (each prints its own ratios table). Arguments
// filter the file names; `--quick` runs each comparison once, shorter (a smoke run, not numbers to keep).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const only = args.filter((a) => a !== '--quick');
if (args.includes('--quick')) {
  process.env.BENCH_RUNS ??= '1';
  process.env.BENCH_WRK_S ??= '2';
  process.env.BENCH_HOLD_S ??= '10';
}
const files = readdirSync(here).filter((f) => f.endsWith('.bench.ts') && (only.length === 0 || only.some((o) => f.includes(o)))).sort();
let failed = 0;
for (const f of files) {
  process.stdout.write(`\n== ${f}\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, f)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed > 0 ? 1 : 0);
