// A CLI command: parses its options (flags, then CASCADE_* env), prints --help, and runs.
import { formatHelp, parseOptions, type OptionsSpec, type ParseResult } from './options.js';
import { createLogger, LOG_LEVELS, type Logger, type LogLevel } from './log.js';

export interface Command {
  name: string;
  summary: string;
  /** Returns the exit code; a thrown UsageError exits 2. */
  run(argv: string[]): Promise<number | void>;
}

export const LISTEN_OPTIONS = {
  host: { type: 'string', default: '127.0.0.1', help: 'address to listen on' },
  'log-level': { type: 'string', default: 'warn', choices: LOG_LEVELS, help: 'least severe log level written to stderr' },
} as const satisfies OptionsSpec;

export const REDIS_OPTIONS = {
  redis: { type: 'url', help: 'Redis URL of the control plane (optional)' },
  'redis-prefix': { type: 'string', default: 'cascade:', help: 'key prefix in Redis' },
} as const satisfies OptionsSpec;

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
  return parsed;
}

export function loggerFor(level: string, fields: Record<string, unknown>): Logger {
  return createLogger({ level: level as LogLevel, fields });
}
