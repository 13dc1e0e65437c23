// What `import koffi from 'koffi'` resolves to inside the bundled command
// (scripts/bundle-cli.mjs): koffi's prebuilt addon for linux-x64 glibc, loaded
// directly. koffi's own entry first reads node's ELF header to tell glibc from
// musl and goes through three modules, which costs a `forkall clone -p` more
// than loading the addon; on any other host (musl, another CPU, no prebuilt
// package) koffi's entry does its usual work.
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

function load() {
  if (process.platform === 'linux' && process.arch === 'x64') {
    try {
      return require('@koromix/koffi-linux-x64/linux_x64/koffi.node');
    } catch {
      // not glibc, or not installed that way: koffi finds its addon itself
    }
  }
  return require('koffi');
}

export default load();
