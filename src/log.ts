// Structured logs: one JSON line per event on stderr, quiet by default (warn and above). Secrets this
// process knows (every secret option's value, the password of a URL) never appear in them: each line
// is masked on its way out, whatever field or message carries it.

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
export const LOG_LEVELS = Object.keys(RANK) as LogLevel[];

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(event: string, fields?: LogFields): void;
  info(event: string, fields?: LogFields): void;
  warn(event: string, fields?: LogFields): void;
  error(event: string, fields?: LogFields): void;
  /** A logger that adds these fields (role, edge id, stream) to every line. */
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  fields?: LogFields;
  write?: (line: string) => void;
}

/** Shorter values would mask ordinary words; secrets are longer than this. */
const MIN_HIDDEN_LENGTH = 4;
const MASK = '***';
const hidden = new Set<string>();

/**
 * Keeps `secret` out of every log line this process writes from now on. A URL hides its password only
 * (the host and the rest stay readable). Returns whether there was anything to hide.
 */
export function hideInLogs(secret: string): boolean {
  let value = secret;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(secret)) {
    try {
      const { password } = new URL(secret);
      if (password === '') return false;
      value = password;
      if (decodeURIComponent(password) !== password) hideInLogs(decodeURIComponent(password));
    } catch {
      // Not a URL after all: hide all of it.
    }
  }
  if (value.length < MIN_HIDDEN_LENGTH) return false;
  hidden.add(value);
  // Inside a JSON string a secret with quotes or backslashes is written escaped.
  const escaped = JSON.stringify(value).slice(1, -1);
  if (escaped !== value) hidden.add(escaped);
  return true;
}

/** `line` with every secret this process knows replaced by ***. */
export function maskSecrets(line: string): string {
  let out = line;
  for (const secret of hidden) if (out.includes(secret)) out = out.replaceAll(secret, MASK);
  return out;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const min = RANK[options.level ?? 'warn'];
  const base = options.fields ?? {};
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (level: LogLevel) => (event: string, fields?: LogFields) => {
    if (RANK[level] < min) return;
    const record: LogFields = { t: new Date().toISOString(), level, event, ...base, ...fields };
    if (record.err instanceof Error) record.err = record.err.message;
    write(maskSecrets(JSON.stringify(record)));
  };
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (fields) => createLogger({ ...options, fields: { ...base, ...fields } }),
  };
}

export const silentLogger: Logger = createLogger({ level: 'silent' });
