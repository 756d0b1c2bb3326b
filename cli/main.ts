// `cascade <command> [options]`: finds the command and turns its outcome into an exit code (a UsageError is
// one line and exit 2). Commands parse their options and start roles or stages; everything else lives there.
import { UsageError } from '../src/options.js';
import type { Command } from '../src/command.js';
import { originCommand } from '../origin/command.js';
import { edgeCommand } from '../edge/command.js';
import { lbCommand } from '../lb/command.js';
import { fanoutCommand } from '../fanout/command.js';
import { opsCommands } from './ops.js';
import { stackCommand } from './stack.js';
import { signCommand } from './sign.js';
import { sourceCommand, transcodeCommand } from './transcode.js';

const commands: Command[] = [originCommand, edgeCommand, lbCommand, fanoutCommand, stackCommand, transcodeCommand, sourceCommand, signCommand, ...opsCommands];

function usage(): string {
  const width = Math.max(...commands.map((c) => c.name.length)) + 2;
  return ['Usage: cascade <command> [options]', '', 'Commands:',
    ...commands.map((c) => `  ${c.name.padEnd(width)}${c.summary}`), '',
    "Run 'cascade <command> --help' for a command's options. Every option also reads CASCADE_<OPTION>.", ''].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return name === undefined ? 2 : 0;
  }
  const command = commands.find((c) => c.name === name);
  if (!command) throw new UsageError(`unknown command '${name}' (try 'cascade --help')`);
  return (await command.run(rest)) ?? 0;
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
