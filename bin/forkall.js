#!/usr/bin/env node
import { main } from '../dist/cli/index.js';

// `forkall ... | head` closes our stdout early: that is not an error.
process.stdout.on('error', (err) => {
  if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw err;
});

main(process.argv).then(
  (code) => { process.exitCode = code; },
  (err) => {
    process.stderr.write(`forkall: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
