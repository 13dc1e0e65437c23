// The fidelity suite with the remote engine: each scenario program runs
// unmodified (no preload, no forkall call), reaches its snapshot point and
// blocks in read(0); the engine clones it by PID through ptrace; the same
// transcript assertions as for the in-process engine apply.
import { describe, test } from 'node:test';
import { scenarios } from './helpers/scenarios.js';
import { runScenario, scenarioExists, type ExternalEngine } from './helpers/run-scenario.js';
import { assertFaithfulClone } from './helpers/fidelity.js';
import { cloneProcessSync } from '../src/remote/clone-process.js';
import { waitForExit } from '../src/remote/wait-exit.js';

const remote: ExternalEngine = {
  async clone(pid) {
    const r = cloneProcessSync(pid);
    return r.clones[0]!.pid;
  },
  async waitClone(clonePid) {
    return (await waitForExit(clonePid)).code;
  },
};

/** Scenarios whose snapshot is made by the program itself in a way an outside engine does not reproduce. */
const notForRemote: Record<string, string> = {
  from_worker: 'checks that the thread calling forkall() becomes the leader; from outside there is no calling thread (the leader forks)',
  unparkable: 'checks forkall_ex() options (a thread that cannot be parked, skip_tids); the remote engine stops threads with ptrace, which no thread can block',
};

describe('remote engine (ptrace), new TIDs', () => {
  for (const s of scenarios) {
    for (const flavour of s.flavours) {
      const skip = notForRemote[s.name] ?? (!scenarioExists(s.name, flavour) ? 'musl-gcc not installed: no musl build' : false);
      test(`${s.name} [${flavour}]`, { skip, timeout: (s.timeoutMs ?? 60_000) + 30_000 }, async () => {
        const r = await runScenario(s.name, { flavour, engine: 'external', external: remote, timeoutMs: s.timeoutMs });
        assertFaithfulClone(s.name, r, { noChild: s.noChild });
      });
    }
  }
});
