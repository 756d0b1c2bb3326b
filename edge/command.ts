import type { Command } from '../src/command.js';

// Placeholder until the edge role lands.
export const edgeCommand: Command = {
  name: 'edge',
  summary: 'not implemented yet',
  async run() {
    process.stderr.write('cascade edge: not implemented yet\n');
    return 1;
  },
};
