import type { Command } from '../src/command.js';

// Placeholder until the ops commands (edges, weight, drain, undrain) land with the LB.
export const opsCommands: Command[] = [];
