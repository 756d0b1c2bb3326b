// `cascade <command> [options]`: finds the command and turns its outcome into an exit code (a UsageError is
// one line and exit 2). Commands parse their options and start roles or stages; everything else lives there.
import { UsageError } from '../src/options.js';
import type { Command } from '../src/command.js';

const ops = (name: string) => async () => (await import('./ops.js')).opsCommands.find((c) => c.name === name)!;

/**
 * Each command's module is imported only when that command runs: a role's process then holds its own code
 * and dependencies, not every role's (an edge carries neither the origin's nor the LB's). Listed in the
 * order `cascade --help` shows them.
 */
const COMMANDS: Record<string, () => Promise<Command>> = {
  origin: async () => (await import('../origin/command.js')).originCommand,
  edge: async () => (await import('../edge/command.js')).edgeCommand,
  lb: async () => (await import('../lb/command.js')).lbCommand,
  fanout: async () => (await import('../fanout/command.js')).fanoutCommand,
  stack: async () => (await import('./stack.js')).stackCommand,
  transcode: async () => (await import('./transcode.js')).transcodeCommand,
  source: async () => (await import('./transcode.js')).sourceCommand,
  sign: async () => (await import('./sign.js')).signCommand,
  edges: ops('edges'),
  weight: ops('weight'),
  drain: ops('drain'),
  undrain: ops('undrain'),
};

async function usage(): Promise<string> {
  const commands = await Promise.all(Object.values(COMMANDS).map((load) => load()));
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return ['Usage: cascade <command> [options]', '', 'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`), '',
    "Run 'cascade <command> --help' for a command's options. Every option also reads CASCADE_<OPTION>.", ''].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(await usage());
    return name === undefined ? 2 : 0;
  }
  const load = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!load) throw new UsageError(`unknown command '${name}' (try 'cascade --help')`);
  return (await (await load()).run(rest)) ?? 0;
}

main(process.argv.slice(2)).then(
  (code) => { if (code !== 0) process.exit(code); },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`cascade: ${err.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`cascade: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
    process.exit(1);
  },
);
