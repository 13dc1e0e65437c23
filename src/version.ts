// The package's version. package.json is the one place it is written: the CLI's
// --version, this export and the C library's soname and forkall.pc (native/Makefile)
// all read it from there.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from './native/paths.js';

export const version: string = (JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')) as { version: string }).version;
