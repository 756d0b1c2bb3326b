// Command-line and environment options for every command. One spec per command drives parsing,
// env fallbacks (`--foo-bar` <-> `CASCADE_FOO_BAR`, flag wins), validation and `--help`.
//
// Secret options (`secret: true`: tokens, keys, URLs that may hold a password) also read a file,
// `--foo-file PATH` or `CASCADE_FOO_FILE`, so a secret never has to be on a command line, which every
// user of the machine can read (`ps`). Every secret value parsed is hidden from this process's logs.
import { readFileSync } from 'node:fs';
import { hideInLogs } from './log.js';
import { parseRedisUrl } from './redis-url.js';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `url`: an http(s) URL; `redis-url`: what `--redis` takes (src/redis-url.ts: plain or Sentinel). */
export type OptionType = 'string' | 'int' | 'number' | 'bytes' | 'duration' | 'bool' | 'url' | 'redis-url';

export interface OptionSpec {
  type: OptionType;
  help: string;
  default?: string | number | boolean;
  /** May be given several times (or comma-separated in the environment). */
  repeat?: boolean;
  /** Allowed values for a string option. */
  choices?: readonly string[];
  min?: number;
  max?: number;
  /** Also read from `--<name>-file` / `CASCADE_<NAME>_FILE`; never logged. */
  secret?: boolean;
}

/** The file variant of a secret option (`--upload-token-file`). */
export const SECRET_FILE_SUFFIX = '-file';

export type OptionsSpec = Record<string, OptionSpec>;

type Scalar<S extends OptionSpec> = S['type'] extends 'int' | 'number' | 'bytes' | 'duration'
  ? number
  : S['type'] extends 'bool'
    ? boolean
    : string;

export type ParsedOptions<S extends OptionsSpec> = {
  [K in keyof S]: S[K]['repeat'] extends true
    ? Scalar<S[K]>[]
    : S[K] extends { default: string | number | boolean }
      ? Scalar<S[K]>
      : Scalar<S[K]> | undefined;
};

export interface ParseResult<S extends OptionsSpec> {
  options: ParsedOptions<S>;
  positionals: string[];
  help: boolean;
  /** Secret options given as flags with a secret value on the command line (`ps` shows them). */
  exposed: string[];
}

const BYTE_UNITS: Record<string, number> = {
  '': 1, b: 1, k: 1024, kb: 1024, kib: 1024, m: 1024 ** 2, mb: 1024 ** 2, mib: 1024 ** 2,
  g: 1024 ** 3, gb: 1024 ** 3, gib: 1024 ** 3,
};

/** `512m`, `64MiB`, `1g`, `1048576` -> bytes (binary units, as nginx reads `512m`). */
export function parseBytes(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = m ? BYTE_UNITS[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new UsageError(`not a size: '${text}' (examples: 4096, 512k, 64m, 1g)`);
  return Math.round(Number(m[1]) * unit);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, '': 1000, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `500ms`, `2s`, `1.5`, `5m` -> milliseconds; a bare number is seconds, as in nginx. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|)$/i.exec(text.trim());
  if (!m) throw new UsageError(`not a duration: '${text}' (examples: 500ms, 2s, 1.5, 5m, 48h, 7d)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2]!.toLowerCase()]!);
}

export function envName(option: string): string {
  return 'CASCADE_' + option.toUpperCase().replace(/-/g, '_');
}

function convert(name: string, spec: OptionSpec, raw: string): string | number | boolean {
  const fail = (what: string): never => {
    throw new UsageError(`--${name}: ${what}`);
  };
  let value: string | number | boolean;
  switch (spec.type) {
    case 'string':
      value = raw;
      if (spec.choices && !spec.choices.includes(raw)) fail(`must be one of ${spec.choices.join(', ')} (got '${raw}')`);
      break;
    case 'url':
      try {
        const u = new URL(raw);
        if (u.protocol !== 'http:' && u.protocol !== 'https:') fail(`expected an http(s) URL, got '${raw}'`);
      } catch (e) {
        if (e instanceof UsageError) throw e;
        fail(`not a URL: '${raw}'`);
      }
      value = raw.replace(/\/+$/, '');
      break;
    case 'redis-url':
      try { parseRedisUrl(raw); } catch (e) { fail((e as Error).message); }
      value = raw;
      break;
    case 'int':
      if (!/^-?\d+$/.test(raw.trim())) fail(`not a whole number: '${raw}'`);
      value = Number(raw);
      break;
    case 'number':
      value = Number(raw);
      if (raw.trim() === '' || !Number.isFinite(value)) fail(`not a number: '${raw}'`);
      break;
    case 'bytes':
      try { value = parseBytes(raw); } catch (e) { fail((e as Error).message); }
      break;
    case 'duration':
      try { value = parseDuration(raw); } catch (e) { fail((e as Error).message); }
      break;
    case 'bool':
      if (/^(1|true|yes|on)$/i.test(raw)) value = true;
      else if (/^(0|false|no|off)$/i.test(raw)) value = false;
      else fail(`not a boolean: '${raw}' (use true or false)`);
      break;
  }
  if (typeof value! === 'number') {
    if (spec.min !== undefined && value < spec.min) fail(`must be at least ${spec.min} (got ${raw})`);
    if (spec.max !== undefined && value > spec.max) fail(`must be at most ${spec.max} (got ${raw})`);
  }
  return value!;
}

/**
 * Parses argv against a spec; environment variables fill in what flags do not give, then values from a
 * config file, then defaults. Throws UsageError.
 */
export function parseOptions<S extends OptionsSpec>(
  spec: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  fromFile: Record<string, string> = {},
): ParseResult<S> {
  const fromFlags = new Map<string, string[]>();
  /** Secret option -> the file named by its --<name>-file flag. */
  const fromSecretFiles = new Map<string, string>();
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') { help = true; continue; }
    if (arg === '--') { positionals.push(...argv.slice(i + 1)); break; }
    if (!arg.startsWith('--')) {
      if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) throw new UsageError(`unknown option '${arg}'`);
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf('=');
    let name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    let value: string | undefined = eq === -1 ? undefined : arg.slice(eq + 1);
    let s = spec[name];
    if (!s && name.startsWith('no-') && spec[name.slice(3)]?.type === 'bool' && value === undefined) {
      name = name.slice(3);
      s = spec[name];
      value = 'false';
    }
    if (!s && name.endsWith(SECRET_FILE_SUFFIX) && spec[name.slice(0, -SECRET_FILE_SUFFIX.length)]?.secret) {
      if (value === undefined) value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
      const base = name.slice(0, -SECRET_FILE_SUFFIX.length);
      if (fromSecretFiles.has(base)) throw new UsageError(`--${name} given more than once`);
      fromSecretFiles.set(base, value);
      continue;
    }
    if (!s) throw new UsageError(`unknown option '--${name}'`);
    if (value === undefined) {
      if (s.type === 'bool') value = 'true';
      else {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`--${name} needs a value`);
      }
    }
    const list = fromFlags.get(name) ?? [];
    if (list.length > 0 && !s.repeat) throw new UsageError(`--${name} given more than once`);
    list.push(value);
    fromFlags.set(name, list);
  }

  const options: Record<string, unknown> = {};
  const exposed: string[] = [];
  for (const [name, s] of Object.entries(spec)) {
    let raws = fromFlags.get(name);
    if (raws && fromSecretFiles.has(name)) throw new UsageError(`--${name} and --${name}${SECRET_FILE_SUFFIX} given both`);
    const secretFile = fromSecretFiles.get(name);
    if (!raws && secretFile !== undefined) raws = readSecretFile(name, s, secretFile);
    if (!raws) {
      const split = (text: string) => (s.repeat ? text.split(/[\s,]+/).filter(Boolean) : [text]);
      const envFile = s.secret ? env[envName(name + SECRET_FILE_SUFFIX)] : undefined;
      if (env[envName(name)]) raws = split(env[envName(name)]!);
      else if (envFile) raws = readSecretFile(name, s, envFile);
      else if (fromFile[name] !== undefined && fromFile[name] !== '') raws = split(fromFile[name]);
    }
    if (raws && s.secret) {
      const secret = raws.map(hideInLogs).some(Boolean);
      if (secret && fromFlags.has(name)) exposed.push(name);
    }
    if (s.repeat) options[name] = (raws ?? []).map((r) => convert(name, s, r));
    else if (raws) options[name] = convert(name, s, raws[0]!);
    else if (s.default !== undefined) options[name] = typeof s.default === 'string' ? convert(name, s, s.default) : s.default;
    else options[name] = undefined;
  }
  return { options: options as ParsedOptions<S>, positionals, help, exposed };
}

/**
 * A secret option's values from a file: the value, or for a repeatable option one value per line;
 * blank lines and `#` lines are skipped. Precedence: flag, file flag, environment, file environment, config.
 */
function readSecretFile(name: string, spec: OptionSpec, file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError(`--${name}${SECRET_FILE_SUFFIX}: cannot read '${file}': ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const values = text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  if (values.length === 0) throw new UsageError(`--${name}${SECRET_FILE_SUFFIX}: '${file}' holds no value`);
  if (!spec.repeat && values.length > 1) throw new UsageError(`--${name}${SECRET_FILE_SUFFIX}: '${file}' holds more than one line`);
  return values;
}

/** The largest unit that writes `value` as a whole number, in the spelling the parser reads back. */
function inUnits(value: number, units: readonly (readonly [string, number])[]): string {
  if (value === 0) return '0';
  const [unit, size] = units.find(([, n]) => value % n === 0) ?? units[units.length - 1]!;
  return `${value / size}${unit}`;
}

const BYTES_SPELLING = [['g', 1024 ** 3], ['m', 1024 ** 2], ['k', 1024], ['', 1]] as const;
const DURATION_SPELLING = [['d', 86_400_000], ['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const;

/**
 * A default as --help shows it. A size or duration default may be given as a number (bytes, ms), so a role's
 * defaults object is its one source; it is shown as a user would write it (`64m`, `10s`).
 */
export function formatDefault(spec: OptionSpec): string | undefined {
  const value = spec.default;
  if (value === undefined || value === false) return undefined;
  if (typeof value === 'number' && spec.type === 'bytes') return inUnits(value, BYTES_SPELLING);
  if (typeof value === 'number' && spec.type === 'duration') return inUnits(value, DURATION_SPELLING);
  return String(value);
}

export function formatHelp(usage: string, description: string, spec: OptionsSpec): string {
  const rows = Object.entries(spec).flatMap(([name, s]) => {
    const arg = s.type === 'bool' ? '' : ` <${s.type === 'string' && s.choices ? s.choices.join('|') : s.type}>`;
    const shown = formatDefault(s);
    const dflt = shown !== undefined ? ` (default ${shown})` : '';
    const row = [`  --${name}${arg}`, `${s.help}${dflt}${s.repeat ? ' [repeatable]' : ''}  env ${envName(name)}`] as const;
    if (!s.secret) return [row];
    const file = name + SECRET_FILE_SUFFIX;
    return [row, [`  --${file} <path>`, `the same from a file${s.repeat ? ', one per line' : ''} (keeps it off the command line)  env ${envName(file)}`] as const];
  });
  const width = Math.max(...rows.map(([l]) => l.length), 10) + 2;
  return [`Usage: ${usage}`, '', description, '', 'Options:', ...rows.map(([l, r]) => l.padEnd(width) + r), '  --help'.padEnd(width) + 'show this help', ''].join('\n');
}
