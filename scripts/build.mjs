#!/usr/bin/env node
// Builds the C library, scenarios, bench and demo (make) and then the TypeScript (tsc).
// Runs from `npm install` / `npm ci` through the `prepare` script.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const nativeOnly = process.argv.includes('--native-only');

function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root, ...opts });
  if (r.status !== 0) {
    process.stderr.write(`forkall build: '${cmd} ${args.join(' ')}' failed (exit ${r.status ?? r.signal})\n`);
    process.exit(1);
  }
}

for (const tool of ['gcc', 'make']) {
  if (!have(tool)) {
    process.stderr.write(`forkall build: '${tool}' is not installed; install it (Debian: apt-get install -y build-essential) and run npm install again\n`);
    process.exit(1);
  }
}

run('make', ['-C', 'native', '-j2', '--no-print-directory']);
if (!have('musl-gcc')) {
  process.stderr.write('forkall build: musl-gcc not found: skipping the musl build (apt-get install -y musl-tools to get it)\n');
}

if (!nativeOnly) {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  if (!existsSync(tsc)) {
    process.stderr.write('forkall build: typescript is not installed; run npm install first\n');
    process.exit(1);
  }
  run(process.execPath, [tsc, '-p', 'tsconfig.json']);
}
