#!/usr/bin/env node
// The forkall command. It loads the bundled CLI (dist/cli-bundle/, made by
// `npm run build`: a few files instead of every module, so it starts sooner),
// or tsc's dist/cli/ where nothing was bundled.
import { existsSync } from 'node:fs';

const bundled = new URL('../dist/cli-bundle/index.js', import.meta.url);
const { main } = await import(existsSync(bundled) ? bundled.href : '../dist/cli/index.js');

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
