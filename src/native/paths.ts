// Where the native artifacts live. Resolved from the package root (the folder
// holding package.json), never relative to a compiled module's own location.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findPackageRoot(start: string): string {
  let dir = start;
  for (;;) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'native'))) return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find the forkall package root above ${start}`);
    dir = up;
  }
}

export const packageRoot: string = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

export type Flavour = 'glibc' | 'musl';

export function buildDir(flavour: Flavour = 'glibc'): string {
  return join(packageRoot, 'native', 'build', flavour);
}

/** Path of a built native artifact; throws a one-line error naming the missing file. */
export function nativeArtifact(rel: string, flavour: Flavour = 'glibc'): string {
  const p = join(buildDir(flavour), rel);
  if (!existsSync(p)) {
    // a checkout: npm run build:native; an installed package whose install step
    // was skipped (--ignore-scripts, or install scripts not approved): npm rebuild forkall
    throw new Error(`native artifact missing: ${p} (build it: 'npm run build:native' in a checkout, 'npm rebuild forkall' where forkall is installed)`);
  }
  return p;
}

export const libforkall = (flavour: Flavour = 'glibc'): string =>
  nativeArtifact(flavour === 'glibc' ? 'libforkall.so' : 'libforkall.so', flavour);
export const scenarioBinary = (name: string, flavour: Flavour = 'glibc'): string =>
  nativeArtifact(join('scenarios', name), flavour);
export const toolBinary = (name: string): string => nativeArtifact(join('bin', name), 'glibc');
