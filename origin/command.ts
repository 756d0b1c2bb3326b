import type { Command } from '../src/command.js';

// Placeholder until the origin role lands.
export const originCommand: Command = {
  name: 'origin',
  summary: 'not implemented yet',
  async run() {
    return 1;
  },
};
