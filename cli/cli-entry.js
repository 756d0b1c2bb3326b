#!/usr/bin/env node
// Copied to dist/cli.js by `npm run build`: docs/contract.md names dist/cli.js, while tsc mirrors cli/ under dist/cli/.
import './cli/main.js';
