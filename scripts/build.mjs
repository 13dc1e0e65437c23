#!/usr/bin/env node
// The whole build of a checkout: the C library, agent, scenarios, bench and demo
// for glibc (and musl when musl-gcc exists) with make, then the TypeScript (tsc).
// Runs from `npm ci` / `npm install` in a checkout and from `npm pack` through
// the `prepare` script; `--native-only` skips tsc.
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { have, requireTools, root, run } from './tools.mjs';

const nativeOnly = process.argv.includes('--native-only');

requireTools(['make', 'gcc', 'g++'], 'build');
run('build', 'make', ['-C', 'native', '-j2', '--no-print-directory']);
if (!have('musl-gcc')) {
  process.stderr.write('forkall build: musl-gcc not found: skipping the musl build (apt-get install -y musl-tools to get it)\n');
}

if (!nativeOnly) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write('forkall build: typescript is not installed; run npm install first\n');
    process.exit(1);
  }
  // from empty: a module whose source was removed must not linger (or ship) in dist/
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  run('build', process.execPath, [tsc, '-p', 'tsconfig.json']);
}

if (!nativeOnly) run('build', process.execPath, [join(root, 'scripts', 'bundle-cli.mjs')]);
