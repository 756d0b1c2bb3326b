// The operator's commands: `cascade edges`, `weight`, `drain`, `undrain`. Changes go to Redis and are
// announced on the events channel, so every LB applies them at once instead of at its next poll.
import { Redis } from 'ioredis';
import { REDIS_OPTIONS, parseCommand, type Command, type CommandHelp } from '../src/command.js';
import { controlKeys, type ControlKeys } from '../src/control-plane.js';
import { UsageError, type OptionsSpec } from '../src/options.js';
import { DEFAULT_WEIGHT, isValidEdgeId, MAX_WEIGHT, parseWeight } from '../lb/edges.js';
import { Selector } from '../lb/selector.js';

/** A failure that is not the operator's typing: one line on stderr, exit 1. */
class OpsError extends Error {}

async function withRedis<T>(url: string | undefined, prefix: string, fn: (redis: Redis, keys: ControlKeys) => Promise<T>): Promise<T> {
  if (!url) throw new UsageError('--redis URL is required (or CASCADE_REDIS)');
  // Unlike a role, a command should wait for the connection once, then fail clearly.
  const redis = new Redis(url, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 0, connectTimeout: 3000, retryStrategy: () => null });
  let lastError: Error | undefined;
  redis.on('error', (err: Error) => { lastError = err; });
  try {
    await redis.connect();
  } catch (err) {
    // connect() only says the connection closed; the error event says why.
    throw new OpsError(`cannot reach Redis at ${url}: ${(lastError ?? (err as Error)).message}`);
  }
  try {
    return await fn(redis, controlKeys(prefix));
  } finally {
    redis.disconnect();
  }
}

function edgeId(text: string | undefined): string {
  if (text === undefined) throw new UsageError('missing <edge-id>');
  if (!isValidEdgeId(text)) throw new UsageError(`not an edge id: '${text}' (letters, digits, '.', '_', '-')`);
  return text;
}

function positionals(list: string[], names: string[]): (string | undefined)[] {
  if (list.length > names.length) throw new UsageError(`unexpected argument '${list[names.length]}'`);
  return names.map((_, i) => list[i]);
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

async function rowsFromRedis(redis: Redis, keys: ControlKeys): Promise<EdgeRow[]> {
  const [weights, urls, drained] = await Promise.all([redis.hgetall(keys.weights), redis.hgetall(keys.edges), redis.smembers(keys.drain)]);
  const ids = [...new Set([...Object.keys(urls), ...Object.keys(weights), ...drained])].filter(isValidEdgeId).sort();
  const alive = await Promise.all(ids.map(async (id) => (id in urls ? (await redis.exists(keys.alive(id))) === 1 : null)));
  const edges = ids.map((id, i) => {
    const drain = drained.includes(id);
    return { id, url: urls[id] ?? '-', weight: drain ? 0 : (parseWeight(weights[id] ?? '') ?? DEFAULT_WEIGHT), healthy: alive[i]!, drain };
  });
  // Edges known only by their weight (static `--edge` on the LBs) may be serving: count them.
  const shares = new Selector(edges).shares((e) => e.healthy !== false);
  return edges.map((e) => ({ ...e, share: shares.get(e.id) ?? 0 }));
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
  positionals(p, []);
  if (!o.lb && !o.redis) throw new UsageError('give --lb URL or --redis URL');
  const rows = o.lb ? await rowsFromLb(o.lb) : await withRedis(o.redis, o['redis-prefix'], rowsFromRedis);
  return o.json ? JSON.stringify(rows, null, 2) + '\n' : formatEdgeTable(rows);
});

const weightCommand = opsCommand('weight', 'set an edge\'s weight in Redis (0 = no new clients)', REDIS_OPTIONS, {
  usage: 'cascade weight <edge-id> <weight> --redis URL',
  description: `Sets the edge's weight (0..${MAX_WEIGHT}) in the control plane; every LB applies it at once.`,
}, async ({ options: o, positionals: p }) => {
  const [rawId, rawWeight] = positionals(p, ['edge-id', 'weight']);
  const id = edgeId(rawId);
  if (rawWeight === undefined) throw new UsageError('missing <weight>');
  const weight = parseWeight(rawWeight);
  if (weight === undefined) throw new UsageError(`weight must be a whole number 0..${MAX_WEIGHT}, got '${rawWeight}'`);
  return withRedis(o.redis, o['redis-prefix'], async (redis, keys) => {
    // A drained edge keeps weight 0; the new weight is what undrain restores.
    if (await redis.sismember(keys.drain, id)) {
      await redis.multi().hset(keys.drainedWeights, id, weight).publish(keys.events, `weight ${id}`).exec();
      return `${id} is drained; weight ${weight} applies on 'cascade undrain ${id}'\n`;
    }
    await redis.multi().hset(keys.weights, id, weight).publish(keys.events, `weight ${id}`).exec();
    return `${id} weight ${weight}\n`;
  });
});

const drainCommand = opsCommand('drain', 'stop sending new clients to an edge (weight 0 + drain flag)', REDIS_OPTIONS, {
  usage: 'cascade drain <edge-id> --redis URL',
  description: "Sets the edge's weight to 0 and adds it to the drain set; its current weight is kept for undrain.",
}, async ({ options: o, positionals: p }) => {
  const [rawId] = positionals(p, ['edge-id']);
  const id = edgeId(rawId);
  return withRedis(o.redis, o['redis-prefix'], async (redis, keys) => {
    const [already, weight] = await Promise.all([redis.sismember(keys.drain, id), redis.hget(keys.weights, id)]);
    const tx = redis.multi();
    if (!already && weight !== null) tx.hset(keys.drainedWeights, id, weight);
    await tx.hset(keys.weights, id, 0).sadd(keys.drain, id).publish(keys.events, `drain ${id}`).exec();
    return already ? `${id} was already drained\n` : `${id} drained\n`;
  });
});

const undrainCommand = opsCommand('undrain', 'let an edge take new clients again, at its weight before drain', REDIS_OPTIONS, {
  usage: 'cascade undrain <edge-id> --redis URL',
  description: 'Removes the edge from the drain set and restores the weight it had before drain (or the default).',
}, async ({ options: o, positionals: p }) => {
  const [rawId] = positionals(p, ['edge-id']);
  const id = edgeId(rawId);
  return withRedis(o.redis, o['redis-prefix'], async (redis, keys) => {
    const [drained, saved] = await Promise.all([redis.sismember(keys.drain, id), redis.hget(keys.drainedWeights, id)]);
    if (!drained) return `${id} was not drained\n`;
    const tx = redis.multi().srem(keys.drain, id).hdel(keys.drainedWeights, id);
    if (saved !== null) tx.hset(keys.weights, id, saved);
    else tx.hdel(keys.weights, id);
    await tx.publish(keys.events, `undrain ${id}`).exec();
    return `${id} undrained (weight ${saved ?? `default ${DEFAULT_WEIGHT}`})\n`;
  });
});

export const opsCommands: Command[] = [edgesCommand, weightCommand, drainCommand, undrainCommand];
