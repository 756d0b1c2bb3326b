// `--config FILE`: a .js/.mjs module (or .ts under a TypeScript loader) exporting options, hooks and
// middleware for one role. Anything wrong with it stops the start with one clear line (exit 2).
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { UsageError, type OptionsSpec } from './options.js';
import type { RoleConfigModule, RoleName } from './hooks.js';

/** A config module of a role whose hooks are H, checked. */
export interface LoadedConfig<H> {
  /** Option values by CLI name, as strings the option parser converts. */
  options: Record<string, string>;
  hooks: RoleConfigModule<H>['hooks'];
  use: NonNullable<RoleConfigModule<H>['use']>;
}

function kebab(name: string): string {
  return name.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());
}

/** `hookNames`: the role's hooks (its declarations; src/ knows no role's hooks). */
export async function loadConfigFile<H>(file: string, role: RoleName, spec: OptionsSpec, hookNames: readonly string[]): Promise<LoadedConfig<H>> {
  const fail = (msg: string): never => {
    throw new UsageError(`--config ${file}: ${msg}`);
  };
  if (!existsSync(file)) fail('file not found');
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(resolve(file)).href)) as Record<string, unknown>;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_UNKNOWN_FILE_EXTENSION') fail('a .ts config needs a TypeScript loader (run node with --import tsx), or use .js/.mjs');
    fail(`cannot load: ${(e.message ?? String(err)).split('\n')[0]}`);
  }
  const cfg = (mod!.default ?? mod!) as Record<string, unknown>;
  if (typeof cfg !== 'object' || cfg === null) fail('must export an object');
  for (const key of Object.keys(cfg)) {
    if (!['options', 'hooks', 'use', 'default'].includes(key)) fail(`unknown export '${key}' (expected options, hooks, use)`);
  }

  const options: Record<string, string> = {};
  const rawOptions = cfg.options ?? {};
  if (typeof rawOptions !== 'object' || rawOptions === null || Array.isArray(rawOptions)) fail('options must be an object');
  for (const [key, value] of Object.entries(rawOptions as Record<string, unknown>)) {
    const name = spec[key] ? key : kebab(key);
    const s = spec[name];
    if (!s || name === 'config') fail(`unknown option '${key}'`);
    const list = Array.isArray(value) ? value : [value];
    if (!s!.repeat && Array.isArray(value)) fail(`option '${key}' takes one value`);
    if (!list.every((v) => ['string', 'number', 'boolean'].includes(typeof v))) fail(`option '${key}' must be a string, number or boolean`);
    options[name] = list.map(String).join(',');
  }

  const hooks = cfg.hooks ?? {};
  if (typeof hooks !== 'object' || hooks === null) fail('hooks must be an object');
  for (const [name, fn] of Object.entries(hooks as Record<string, unknown>)) {
    if (!hookNames.includes(name)) fail(`unknown ${role} hook '${name}' (${role} hooks: ${hookNames.join(', ')})`);
    if (typeof fn !== 'function') fail(`hook '${name}' must be a function, got ${typeof fn}`);
  }

  const use = cfg.use ?? [];
  if (!Array.isArray(use) || !use.every((m) => typeof m === 'function')) fail('use must be an array of middleware functions');

  return { options, hooks: hooks as LoadedConfig<H>['hooks'], use: use as LoadedConfig<H>['use'] };
}
