// The operator's commands: `cascade edges`, `weight`, `drain`, `undrain`. Every read and write is
// src/control-plane.ts's, so `cascade edges` shows what an LB would use from Redis, by the same rules, and
// every change is announced on the events channel, so every LB applies it at once instead of at its next poll.
import type { Redis } from 'ioredis';
import { REDIS_OPTIONS, parseCommand, takePositionals, type Command, type CommandHelp } from '../src/command.js';
import {
  connectRedisOnce, controlKeys, DEFAULT_WEIGHT, drainEdge, effectiveWeight, isValidEdgeId, MAX_WEIGHT, parseWeight, readControlPlane,
  setWeight, undrainEdge, type ControlKeys, type RejectedEntry,
} from '../src/control-plane.js';
import { UsageError, type OptionsSpec } from '../src/options.js';
import { Selector } from '../lb/selector.js';

/** A failure that is not the operator's typing: one line on stderr, exit 1. */
class OpsError extends Error {}

async function withRedis<T>(url: string | undefined, prefix: string, fn: (redis: Redis, keys: ControlKeys) => Promise<T>): Promise<T> {
  if (!url) throw new UsageError('--redis URL is required (or CASCADE_REDIS)');
  let redis: Redis;
  try {
    redis = await connectRedisOnce(url);
  } catch (err) {
    throw new OpsError((err as Error).message);
  }
  try {
    return await fn(redis, controlKeys(prefix));
  } finally {
    redis.disconnect();
  }
}

/** The <edge-id> argument, by the control plane's rule for ids. */
function edgeIdArgument(text: string | undefined): string {
  if (text === undefined) throw new UsageError('missing <edge-id>');
  if (!isValidEdgeId(text)) throw new UsageError(`not an edge id: '${text}' (letters, digits, '.', '_', '-')`);
  return text;
}

/** Runs a command body, turning OpsError into one stderr line and exit 1. */
function opsCommand<S extends OptionsSpec>(name: string, summary: string, spec: S, help: CommandHelp,
  body: (parsed: NonNullable<ReturnType<typeof parseCommand<S>>>) => Promise<string>): Command {
  return {
    name,
    summary,
    async run(argv) {
      const parsed = parseCommand(spec, argv, help);
      if (!parsed) return 0;
      try {
        process.stdout.write(await body(parsed));
        return 0;
      } catch (err) {
        if (!(err instanceof OpsError)) throw err;
        process.stderr.write(`cascade ${name}: ${err.message}\n`);
        return 1;
      }
    },
  };
}

export interface EdgeRow {
  id: string;
  url: string;
  weight: number;
  /** true/false from an LB's health checks or a heartbeat; null when nothing is known. */
  healthy: boolean | null;
  share: number;
  drain: boolean;
}

/**
 * The edges as an LB reads them from Redis: registered ones (HEALTHY yes), listed ones whose heartbeat
 * lapsed (no), and ids known only by a weight or the drain set ('?': static `--edge` entries on the LBs,
 * which may be serving, so they count for the shares). Entries the LB would reject are left out and said.
 */
export async function edgeRowsFromRedis(redis: Redis, keys: ControlKeys): Promise<{ rows: EdgeRow[]; rejected: RejectedEntry[] }> {
  const { snapshot, listed, rejected } = await readControlPlane(redis, keys);
  const ids = [...new Set([...listed.keys(), ...snapshot.weights.keys(), ...snapshot.drained])].sort();
  const edges = ids.map((id) => ({
    id,
    url: listed.get(id) ?? '-',
    weight: effectiveWeight(snapshot, id, DEFAULT_WEIGHT),
    healthy: snapshot.registered.has(id) ? true : snapshot.lapsed.has(id) ? false : null,
    drain: snapshot.drained.has(id),
  }));
  const shares = new Selector(edges).shares((e) => e.healthy !== false);
  return { rows: edges.map((e) => ({ ...e, share: shares.get(e.id) ?? 0 })), rejected };
}

async function rowsFromLb(lb: string): Promise<EdgeRow[]> {
  let res: Response;
  try {
    res = await fetch(`${lb}/api/edges`, { signal: AbortSignal.timeout(5000) });
  } catch (err) {
    throw new OpsError(`cannot reach the LB at ${lb}: ${(err as Error).message}`);
  }
  if (!res.ok) throw new OpsError(`${lb}/api/edges answered ${res.status}`);
  const edges = (await res.json()) as EdgeRow[];
  return edges.map(({ id, url, weight, healthy, share, drain }) => ({ id, url, weight, healthy, share, drain: drain ?? false }));
}

export function formatEdgeTable(rows: readonly EdgeRow[]): string {
  const table = [
    ['ID', 'URL', 'WEIGHT', 'HEALTHY', 'SHARE', 'DRAIN'],
    ...rows.map((r) => [r.id, r.url, String(r.weight), r.healthy === null ? '?' : r.healthy ? 'yes' : 'no', `${(r.share * 100).toFixed(1)}%`, r.drain ? 'drained' : '-']),
  ];
  const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
  return table.map((row) => row.map((cell, i) => cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n';
}

const EDGES_OPTIONS = {
  ...REDIS_OPTIONS,
  lb: { type: 'url', help: "an LB's base URL: show its view (health checks included) from /api/edges" },
  json: { type: 'bool', default: false, help: 'print JSON instead of a table' },
} as const satisfies OptionsSpec;

const edgesCommand = opsCommand('edges', 'list edges: url, weight, health, share of keys, drain', EDGES_OPTIONS, {
  usage: 'cascade edges [--lb URL | --redis URL] [--json]',
  description: "Shows every edge. With --lb, the LB's own view (its health checks); otherwise the Redis control plane,\nwhere HEALTHY means the edge's heartbeat is alive ('?' for edges that do not register).",
}, async ({ options: o, positionals: p }) => {
  takePositionals(p, []);
  if (!o.lb && !o.redis) throw new UsageError('give --lb URL or --redis URL');
  const { rows, rejected } = o.lb ? { rows: await rowsFromLb(o.lb), rejected: [] } : await withRedis(o.redis, o['redis-prefix'], edgeRowsFromRedis);
  for (const r of rejected) process.stderr.write(`cascade edges: ignored, as every LB does: ${r.key}${r.id ? ` ${r.id}` : ''}: ${r.reason}\n`);
  return o.json ? JSON.stringify(rows, null, 2) + '\n' : formatEdgeTable(rows);
});

const weightCommand = opsCommand('weight', 'set an edge\'s weight in Redis (0 = no new clients)', REDIS_OPTIONS, {
  usage: 'cascade weight <edge-id> <weight> --redis URL',
  description: `Sets the edge's weight (0..${MAX_WEIGHT}) in the control plane; every LB applies it at once.`,
}, async ({ options: o, positionals: p }) => {
  const [rawId, rawWeight] = takePositionals(p, ['edge-id', 'weight']);
  const id = edgeIdArgument(rawId);
  if (rawWeight === undefined) throw new UsageError('missing <weight>');
  const weight = parseWeight(rawWeight);
  if (weight === undefined) throw new UsageError(`weight must be a whole number 0..${MAX_WEIGHT}, got '${rawWeight}'`);
  return withRedis(o.redis, o['redis-prefix'], async (redis, keys) => (await setWeight(redis, keys, id, weight)) === 'deferred'
    ? `${id} is drained; weight ${weight} applies on 'cascade undrain ${id}'\n`
    : `${id} weight ${weight}\n`);
});

const drainCommand = opsCommand('drain', 'stop sending new clients to an edge (weight 0 + drain flag)', REDIS_OPTIONS, {
  usage: 'cascade drain <edge-id> --redis URL',
  description: "Sets the edge's weight to 0 and adds it to the drain set; its current weight is kept for undrain.",
}, async ({ options: o, positionals: p }) => {
  const [rawId] = takePositionals(p, ['edge-id']);
  const id = edgeIdArgument(rawId);
  return withRedis(o.redis, o['redis-prefix'], async (redis, keys) => ((await drainEdge(redis, keys, id)) ? `${id} drained\n` : `${id} was already drained\n`));
});

const undrainCommand = opsCommand('undrain', 'let an edge take new clients again, at its weight before drain', REDIS_OPTIONS, {
  usage: 'cascade undrain <edge-id> --redis URL',
  description: 'Removes the edge from the drain set and restores the weight it had before drain (or the default).',
}, async ({ options: o, positionals: p }) => {
  const [rawId] = takePositionals(p, ['edge-id']);
  const id = edgeIdArgument(rawId);
  return withRedis(o.redis, o['redis-prefix'], async (redis, keys) => {
    const undrained = await undrainEdge(redis, keys, id);
    return undrained ? `${id} undrained (weight ${undrained.restored ?? `default ${DEFAULT_WEIGHT}`})\n` : `${id} was not drained\n`;
  });
});

export const opsCommands: Command[] = [edgesCommand, weightCommand, drainCommand, undrainCommand];
