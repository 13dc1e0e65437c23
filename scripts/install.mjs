#!/usr/bin/env node
// The package's install step (`npm install forkall`, and `npm ci` in a checkout):
// builds only the C parts an installed package runs (libforkall, the agent, the
// demo, the bench programs) with make and gcc. The TypeScript ships compiled in
// dist/; a checkout builds it, with the scenarios, through `prepare`.
import { requireTools, run } from './tools.mjs';

requireTools(['make', 'gcc'], 'install');
run('install', 'make', ['-C', 'native', '-j2', '--no-print-directory', '-s', 'runtime']);
