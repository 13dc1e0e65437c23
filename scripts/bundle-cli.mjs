#!/usr/bin/env node
// The forkall command as a few bundled files (dist/cli-bundle/), which
// bin/forkall.js loads instead of dist/cli/: node loads one file in place of
// the fifty-odd modules a `forkall clone -p` needs, and commander and
// cli-table3 come inside it (`forkall bench cli` measures the difference). Each
// command stays a chunk of its own, loaded only when it runs. koffi (a native
// addon) stays outside, its addon loaded directly (koffi-direct.mjs). Input: tsc's dist/cli/index.js; without esbuild (a
// devDependency) nothing is bundled and bin/forkall.js loads dist/cli/.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { root } from './tools.mjs';

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  process.stderr.write('forkall build: esbuild is not installed: the command runs unbundled (slower start-up)\n');
  process.exit(0);
}
const outdir = join(root, 'dist', 'cli-bundle');
rmSync(outdir, { recursive: true, force: true });
await esbuild.build({
  entryPoints: [join(root, 'dist', 'cli', 'index.js')],
  outdir,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // koffi (a native addon) is not bundled: its prebuilt addon is loaded straight (koffi-direct.mjs)
  alias: { koffi: join(root, 'scripts', 'koffi-direct.mjs') },
  external: ['koffi', '@koromix/*'],
  logLevel: 'warning',
  // commander and cli-table3 are CommonJS: inside an ES module they need a require
  banner: { js: "import { createRequire as __forkallRequire } from 'node:module'; const require = __forkallRequire(import.meta.url);" },
});
