import type { Command } from './command.js';

// Placeholder until `cascade stack` lands.
export const stackCommand: Command = {
  name: 'stack',
  summary: 'not implemented yet',
  async run() {
    process.stderr.write('cascade stack: not implemented yet\n');
    return 1;
  },
};
