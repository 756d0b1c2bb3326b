import type { Command } from '../src/command.js';

// Placeholder until the lb role lands.
export const lbCommand: Command = {
  name: 'lb',
  summary: 'not implemented yet',
  async run() {
    process.stderr.write('cascade lb: not implemented yet\n');
    return 1;
  },
};
