// Whether another user (nobody, in the tests that drop to it) can run forkall from this checkout.
import { statSync } from 'node:fs';
import { dirname } from 'node:path';
import { packageRoot } from '../../src/native/paths.js';

/** The first directory above the checkout that other users cannot enter (nobody runs bin/forkall.js from it). */
export function closedToOthers(): string | undefined {
  for (let d = packageRoot; ; d = dirname(d)) {
    if ((statSync(d).mode & 0o001) === 0) return d;
    if (dirname(d) === d) return undefined;
  }
}
