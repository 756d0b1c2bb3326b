// `cascade lb`: parses options and runs the role; everything else lives in createLb.
import { accessConfigFrom, PLAYBACK_OPTIONS } from '../src/access.js';
import { DEFAULT_WEIGHT } from '../src/control-plane.js';
import { LISTEN_OPTIONS, REDIS_OPTIONS, TRUST_PROXY_OPTIONS, loggerFor, parseOrigins, parseRoleCommand, takePositionals, tlsFilesOf, trustedHops, type Command } from '../src/command.js';
import { UsageError, type OptionsSpec } from '../src/options.js';
import { runRole } from '../src/role.js';
import { isSupervisor, superviseWorkers, WORKERS_OPTION } from '../src/workers.js';
import { LB_HOOKS } from './hooks.js';
import { createLb, LB_DEFAULTS, parseEdgeGroup, parseEdgeSpec, type HashBy } from './index.js';

const LB_OPTIONS = {
  port: { type: 'int', default: LB_DEFAULTS.port, min: 0, max: 65535, help: 'port to listen on' },
  workers: WORKERS_OPTION,
  ...LISTEN_OPTIONS,
  edge: { type: 'string', repeat: true, help: `an edge as ID=URL[@WEIGHT] (weight default ${DEFAULT_WEIGHT})` },
  'edge-group': { type: 'string', repeat: true, help: 'clients in these networks use these edges: NAME=EDGE[+EDGE]@CIDR[+CIDR]' },
  hash: { type: 'string', default: LB_DEFAULTS.hash, choices: ['client', 'stream'], help: 'what picks the edge: the client address or the stream name' },
  ...TRUST_PROXY_OPTIONS,
  'redirect-code': { type: 'string', default: String(LB_DEFAULTS.redirectCode), choices: ['302', '307'], help: 'status of the redirect to the edge' },
  'health-interval': { type: 'duration', default: LB_DEFAULTS.health.intervalMs, help: 'how often each edge\'s /healthz is checked (0 = no checks)' },
  'health-timeout': { type: 'duration', default: LB_DEFAULTS.health.timeoutMs, help: 'how long a health check may take' },
  'health-fall': { type: 'int', default: LB_DEFAULTS.health.fall, min: 1, max: 100, help: 'consecutive failed checks that take an edge out' },
  'health-rise': { type: 'int', default: LB_DEFAULTS.health.rise, min: 1, max: 100, help: 'consecutive good checks that bring it back' },
  origin: { type: 'string', repeat: true, help: 'origin base URL(s), comma-separated or repeated: their /api/streams feed /api/streams, the dashboard and the player pages\' "not live yet" / "ended"' },
  'balance-factor': { type: 'number', default: LB_DEFAULTS.balanceFactor, min: 0, max: 100, help: 'with --redis: no edge gets more than (1 + this) x its weighted share of the viewers the edges report; 0 = off' },
  ...PLAYBACK_OPTIONS,
  'session-rate': { type: 'string', help: 'new sessions per client address, e.g. 50/10s (429 beyond it); turns on --session-tokens' },
  'session-tokens': { type: 'bool', default: false, help: 'give each new player a session token in the redirect (edges count viewers by it, not by address)' },
  ...REDIS_OPTIONS,
  'redis-poll': { type: 'duration', default: LB_DEFAULTS.redisPollMs, min: 50, help: 'how often Redis is re-read (changes published on the events channel apply at once)' },
} as const satisfies OptionsSpec;

export const lbCommand: Command = {
  name: 'lb',
  summary: 'redirecting load balancer: sends each player to its edge by weighted consistent hashing',
  async run(argv) {
    const parsed = await parseRoleCommand('lb', LB_OPTIONS, argv, {
      usage: `cascade lb [--port ${LB_DEFAULTS.port}] [--edge ID=URL[@WEIGHT]]... [--hash client|stream] [--trust-proxy] [--redis URL]`,
      description: 'Redirects GET/HEAD /hls/... to an edge (302) chosen by weighted rendezvous hashing of the client address\n'
        + 'or stream name; edges and weights come from --edge and, with --redis, from the control plane.',
    }, LB_HOOKS);
    if (!parsed) return 0;
    const options = parsed.options;
    takePositionals(parsed.positionals, []);
    const edges = options.edge.map(parseEdgeSpec);
    const duplicate = edges.find((e, i) => edges.findIndex((x) => x.id === e.id) !== i);
    if (duplicate) throw new UsageError(`--edge: id '${duplicate.id}' given more than once`);
    if (edges.length === 0 && !options.redis) throw new UsageError('give at least one --edge ID=URL, or --redis URL to discover edges');
    const log = loggerFor(options['log-level'], { role: 'lb' });
    const tls = tlsFilesOf(options);
    // Each worker is a whole LB: its own discovery and health checks (docs/lb.md, "Workers").
    if (isSupervisor(options.workers)) return superviseWorkers({ count: options.workers, port: options.port, host: options.host, name: 'lb', log, tls: tls !== undefined });
    const lb = createLb({
      edges,
      hash: options.hash as HashBy,
      trustProxyHops: trustedHops(options),
      redirectCode: options['redirect-code'] === '307' ? 307 : 302,
      health: { intervalMs: options['health-interval'], timeoutMs: options['health-timeout'], rise: options['health-rise'], fall: options['health-fall'] },
      ...(options.redis ? { redis: { url: options.redis, prefix: options['redis-prefix'], pollMs: options['redis-poll'] } } : {}),
      edgeGroups: options['edge-group'].map(parseEdgeGroup),
      origins: parseOrigins(options.origin),
      balanceFactor: options['balance-factor'],
      access: accessConfigFrom(options, 'session-rate', LB_DEFAULTS.sessionRateWindowMs),
      sessionTokens: options['session-tokens'],
      hooks: parsed.hooks,
      use: parsed.use,
      hookTimeoutMs: options['hook-timeout'],
      log,
    });
    await runRole(lb, { port: options.port, host: options.host, log, name: 'lb', tls });
  },
};
