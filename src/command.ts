// A CLI command: parses its options (flags, then CASCADE_* env), prints --help, and runs.
import { envName, formatHelp, parseOptions, SECRET_FILE_SUFFIX, UsageError, type OptionsSpec, type ParseResult } from './options.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './log.js';
import { loadConfigFile, type LoadedConfig } from './config-file.js';
import { DEFAULT_REDIS_PREFIX } from './control-plane.js';
import { DEFAULT_HOOK_TIMEOUT_MS, type HookSpecs, type RoleName } from './hooks.js';
import { readTls, TlsFilesError, type TlsFiles } from './tls.js';

export interface Command {
  name: string;
  summary: string;
  /** Returns the exit code; a thrown UsageError exits 2. */
  run(argv: string[]): Promise<number | void>;
}

export const LISTEN_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  'log-level': { type: 'string', default: 'warn', choices: LOG_LEVELS, help: 'least severe log level written to stderr' },
  config: { type: 'string', help: 'a .js/.mjs module (.ts with a loader) exporting options, hooks and middleware (docs/hooks.md)' },
  'hook-timeout': { type: 'duration', default: DEFAULT_HOOK_TIMEOUT_MS, help: 'a hook that takes longer fails its request' },
  'tls-cert': { type: 'string', help: 'PEM certificate (chain): serve HTTPS, HTTP/2 and HTTP/1.1 on the port (with --tls-key; both re-read on SIGHUP)' },
  'tls-key': { type: 'string', help: 'PEM private key of --tls-cert' },
} as const satisfies OptionsSpec;

/** The TLS files of a role's options, both or neither, checked now (a bad pair is a usage error, exit 2). */
export function tlsFilesOf(options: { 'tls-cert'?: string | undefined; 'tls-key'?: string | undefined }): TlsFiles | undefined {
  const certFile = options['tls-cert'];
  const keyFile = options['tls-key'];
  if (certFile === undefined && keyFile === undefined) return undefined;
  if (certFile === undefined || keyFile === undefined) throw new UsageError('--tls-cert and --tls-key go together');
  try {
    readTls({ certFile, keyFile });
  } catch (err) {
    if (err instanceof TlsFilesError) throw new UsageError(err.message);
    throw err;
  }
  return { certFile, keyFile };
}

export const REDIS_OPTIONS = {
  redis: { type: 'redis-url', secret: true, help: 'Redis of the control plane (optional; a password in it is a secret): redis://host:port, or through Sentinel redis-sentinel://host:port,host:port/<master>' },
  'redis-prefix': { type: 'string', default: DEFAULT_REDIS_PREFIX, help: 'key prefix in Redis' },
} as const satisfies OptionsSpec;

/** For roles behind proxies (LB, edge): whose address a request is (src/client-address.ts). */
export const TRUST_PROXY_OPTIONS = {
  'trust-proxy': { type: 'bool', default: false, help: 'take the client address from X-Forwarded-For' },
  'trust-proxy-hops': { type: 'int', default: 1, min: 1, max: 16, help: 'proxies in front that append to X-Forwarded-For (with --trust-proxy)' },
} as const satisfies OptionsSpec;

/** How many X-Forwarded-For entries the role believes: 0 without --trust-proxy. */
export function trustedHops(options: { 'trust-proxy': boolean; 'trust-proxy-hops': number }): number {
  return options['trust-proxy'] ? options['trust-proxy-hops'] : 0;
}

export interface CommandHelp {
  usage: string;
  description: string;
}

/** Parses argv for a command; prints help and returns undefined when --help was asked. */
export function parseCommand<S extends OptionsSpec>(spec: S, argv: string[], help: CommandHelp): ParseResult<S> | undefined {
  const parsed = parseOptions(spec, argv);
  if (parsed.help) {
    process.stdout.write(formatHelp(help.usage, help.description, spec));
    return undefined;
  }
  warnExposedSecrets(parsed.exposed);
  return parsed;
}

/** One line per secret given on the command line: it works, but every user of the machine can read it. */
export function warnExposedSecrets(exposed: readonly string[]): void {
  for (const name of exposed) {
    process.stderr.write(`cascade: warning: --${name} on the command line is visible to every user (ps); use ${envName(name)} or --${name}${SECRET_FILE_SUFFIX}\n`);
  }
}

/**
 * `--origin` values (or another option's: `--peer`), repeated or comma-separated, as base URLs of cascade
 * servers: http(s), no path or query.
 */
export function parseOrigins(values: readonly string[], option = 'origin'): string[] {
  const origins = values.flatMap((v) => v.split(',')).map((v) => v.trim()).filter(Boolean);
  return origins.map((raw) => {
    let url: URL;
    try { url = new URL(raw); } catch { throw new UsageError(`--${option}: not a URL: '${raw}'`); }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UsageError(`--${option}: must be http(s): '${raw}'`);
    if (url.pathname !== '/' || url.search !== '') throw new UsageError(`--${option}: give the base URL without a path: '${raw}'`);
    return url.origin;
  });
}

/** The positional arguments a command takes, by name; a missing one is undefined, an extra one a UsageError. */
export function takePositionals(list: readonly string[], names: readonly string[]): (string | undefined)[] {
  if (list.length > names.length) throw new UsageError(`unexpected argument '${list[names.length]}'`);
  return names.map((_, i) => list[i]);
}

/**
 * For commands that run until they are stopped: on the first SIGTERM/SIGINT, `stop` runs and the
 * command's exit code (0) is returned.
 */
export function untilSignal(stop: (signal: NodeJS.Signals) => Promise<unknown>): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => void stop(signal).then(() => resolve(0));
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
  });
}

export type RoleParseResult<S extends OptionsSpec, H> = ParseResult<S> & Omit<LoadedConfig<H>, 'options'>;

/**
 * Parses a role's argv; with --config (or CASCADE_CONFIG), loads the module, whose options rank below
 * flags and environment. `hooks`: the role's hook declarations, which a config module's hooks must be
 * among. Returns undefined when --help was asked.
 */
export async function parseRoleCommand<S extends OptionsSpec & typeof LISTEN_OPTIONS, H extends object>(
  role: RoleName, spec: S, argv: string[], help: CommandHelp, hooks: HookSpecs<H>,
): Promise<RoleParseResult<S, H> | undefined> {
  const first = parseCommand(spec, argv, help);
  if (!first) return undefined;
  const file = first.options.config as string | undefined;
  if (file === undefined) return { ...first, hooks: {} as H, use: [] };
  const loaded = await loadConfigFile<H>(file, role, spec, Object.keys(hooks));
  return { ...parseOptions(spec, argv, process.env, loaded.options), hooks: loaded.hooks, use: loaded.use };
}

export function loggerFor(level: string, fields: Record<string, unknown>): Logger {
  return createLogger({ level: level as LogLevel, fields });
}
