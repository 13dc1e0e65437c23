// What the build scripts share: finding the tools they need (with a message that
// names the missing one and how to get it) and running a step in the package.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { dirname, join, delimiter } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');

const WHAT = {
  make: 'make',
  gcc: 'the C compiler gcc',
  'g++': 'the C++ compiler g++ (one scenario of the test suite is C++)',
  'musl-gcc': 'musl-gcc',
};

/** Whether `cmd` is an executable on PATH (looked up here: no shell needed). */
export function have(cmd) {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    try {
      accessSync(join(dir, cmd), constants.X_OK);
      return true;
    } catch {
      // not in this directory
    }
  }
  return false;
}

/** Exits with one line per missing tool, naming it and the package that has it. */
export function requireTools(tools, step) {
  const missing = tools.filter((t) => !have(t));
  if (missing.length === 0) return;
  for (const t of missing)
    process.stderr.write(`forkall ${step}: ${WHAT[t] ?? t} ('${t}') is not installed, and the C library cannot be built without it\n`);
  process.stderr.write(
    `forkall ${step}: install ${missing.join(', ')} (Debian/Ubuntu: apt-get install -y build-essential; Fedora: dnf install gcc gcc-c++ make; Alpine: apk add build-base), then run the install again (npm rebuild forkall)\n`,
  );
  process.exit(1);
}

export function run(step, cmd, args) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: root });
  if (r.status !== 0) {
    process.stderr.write(`forkall ${step}: '${cmd} ${args.join(' ')}' failed (${r.error ? r.error.message : `exit ${r.status ?? r.signal}`})\n`);
    process.exit(1);
  }
}
