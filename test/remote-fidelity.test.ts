// The fidelity suite with the remote engine: each scenario program runs
// unmodified (no preload, no forkall call), reaches its snapshot point and
// blocks in read(0); the engine clones it by PID through ptrace; the same
// transcript assertions as for the in-process engine apply, with new TIDs and
// with exact TIDs (the clone in a PID namespace of its own).
import { describe, test } from 'node:test';
import { scenarios } from './helpers/scenarios.js';
import { runScenario, scenarioExists, type ExternalEngine } from './helpers/run-scenario.js';
import { assertFaithfulClone } from './helpers/fidelity.js';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { statSync } from 'node:fs';
import { cloneProcessSync } from '../src/remote/clone-process.js';
import { packageRoot } from '../src/native/paths.js';
import { waitForExit } from '../src/remote/wait-exit.js';
import { closedToOthers } from './helpers/closed-dir.js';

/** exact: the clone keeps the PID and TIDs; the PID reported is its namespace init, which exits with its status */
const remote = (exactTids: boolean): ExternalEngine => ({
  async clone(pid) {
    const r = cloneProcessSync(pid, { exactTids });
    return r.clones[0]!.pid;
  },
  async waitClone(clonePid) {
    return (await waitForExit(clonePid)).exitCode;
  },
});

/** Scenarios whose snapshot is made by the program itself in a way an outside engine does not reproduce (also: every spec's inProcessOnly). */
const notForRemote: Record<string, string> = {
  from_worker: 'checks that the thread calling forkall() becomes the leader; from outside there is no calling thread (the leader forks)',
};

for (const exact of [false, true]) {
  describe(`remote engine (ptrace), ${exact ? 'exact TIDs' : 'new TIDs'}`, () => {
    for (const s of scenarios) {
      if (exact && s.heavy) continue;
      for (const flavour of s.flavours) {
        const skip = notForRemote[s.name] ?? s.inProcessOnly ?? (!scenarioExists(s.name, flavour) ? 'musl-gcc not installed: no musl build' : false);
        test(`${s.name} [${flavour}]`, { skip, timeout: (s.timeoutMs ?? 60_000) + 30_000 }, async () => {
          const r = await runScenario(s.name, { flavour, exact, engine: 'external', external: remote(exact), timeoutMs: s.timeoutMs });
          assertFaithfulClone(s.name, r, { noChild: s.noChild });
        });
      }
    }
  });
}

/** `forkall clone --exact-tids` run as `uid`, as an unprivileged user would: it needs a user namespace. */
const remoteCliAs = (uid: number): ExternalEngine => ({
  async clone(pid) {
    const cli = join(packageRoot, 'bin', 'forkall.js');
    const r = spawnSync('setpriv', [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '--inh-caps=-all', process.execPath, cli, 'clone', '-p', String(pid), '--exact-tids', '--json'], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`forkall clone --exact-tids as uid ${uid} failed (${r.status}): ${r.stderr}`);
    return JSON.parse(r.stdout).clones[0].pid;
  },
  async waitClone(clonePid) {
    return (await waitForExit(clonePid)).exitCode;
  },
});

describe('remote engine, exact TIDs as an unprivileged user (user namespace)', () => {
  const closed = closedToOthers();
  for (const s of scenarios.filter((x) => x.exactFocus)) {
    for (const flavour of s.flavours) {
      const skip =
        s.inProcessOnly ??
        (process.getuid?.() !== 0
          ? 'already unprivileged: covered by the exact-TID pass above'
          : !scenarioExists(s.name, flavour)
            ? 'musl-gcc not installed: no musl build'
            : closed
              ? `nobody cannot run forkall from this checkout: ${closed} is closed to other users (e.g. a mktemp -d directory)`
              : false);
      test(`${s.name} [${flavour}] as nobody`, { skip, timeout: 90_000 }, async () => {
        const r = await runScenario(s.name, { flavour, exact: true, engine: 'external', external: remoteCliAs(65534), asUser: { uid: 65534, gid: 65534 } });
        assertFaithfulClone(s.name, r, { noChild: s.noChild });
      });
    }
  }
});
