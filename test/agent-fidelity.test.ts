// The fidelity suite with the agent as the engine: each scenario program runs
// unmodified under libforkall-agent.so, freezes at its snapshot point
// (forkall_snapshot()), and two clones of the frozen template must each run
// to the end and write the same transcript. glibc builds only (the musl
// scenarios are static: nothing can be preloaded into them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTemplate } from '../src/server/template.js';
import { scenarios } from './helpers/scenarios.js';
import { scenarioPath } from './helpers/run-scenario.js';
import { readTranscript, diffTranscripts, mismatches } from './helpers/transcript.js';
import { strayProcesses } from './helpers/strays.js';

/** Scenarios whose snapshot is not a plain snapshot point, so they mean something else under the agent. */
const notForTheAgent: Record<string, string> = {
  from_worker: 'checks that the forking worker becomes the leader; under the agent the main thread stays the leader',
  unparkable: 'its snapshot skips a thread through forkall options, which the agent does not take',
};
// Agent clones are to get private event objects (issue 9, the agent's part); until the
// agent makes them, these scenarios (which expect private copies under the agent) wait.
for (const name of ['private_eventfd', 'private_epoll', 'private_timerfd', 'private_signalfd', 'private_inotify', 'private_pipe'])
  notForTheAgent[name] = 'the agent does not give clones private event objects yet (issue 9, agent part): remove this line when it does';

for (const s of scenarios) {
  const skip = notForTheAgent[s.name] ?? false;
  test(`${s.name} [glibc] under the agent: two clones of the frozen template agree`, { skip, timeout: 180_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), `forkall-agent-${s.name}-`));
    chmodSync(out, 0o777);
    const tag = randomUUID();
    const t = await spawnTemplate(scenarioPath(s.name, 'glibc'), [], {
      at: { delayMs: 600_000 },
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, FORKALL_SCENARIO_ENGINE: 'agent', FORKALL_SCENARIO_OUT: out, FORKALL_SCENARIO_TAG: tag },
      timeoutMs: 120_000,
    });
    let stderr = '';
    t.process.stderr!.on('data', (d) => (stderr += d));
    let frozenThreads = 0;
    try {
      frozenThreads = await t.frozenState();
      for (let i = 0; i < 2; i++) {
        const c = await t.clone();
        const r = await c.exited;
        assert.deepEqual([r.exitCode, r.signal], [0, null], `clone ${c.pid} of ${s.name}: ${stderr}`);
      }
    } finally {
      await t.close();
    }
    const logs = readdirSync(out).filter((f) => f.startsWith('clone-'));
    assert.equal(logs.length, 2, `transcripts: ${logs.join(', ')}; stderr: ${stderr}`);
    const [a, b] = logs.map((f) => readTranscript(join(out, f))!);
    assert.deepEqual(mismatches(a!), [], 'checks failed in the first clone');
    assert.deepEqual(mismatches(b!), [], 'checks failed in the second clone');
    assert.deepEqual(diffTranscripts(a!, b!), [], 'the two clones disagree');
    // every program thread frozen in the template came back in the clone
    const counted = a!.get('main')?.find((l) => l.startsWith('threads='));
    if (counted) assert.equal(counted, `threads=${frozenThreads}`, 'thread count in the clone vs frozen in the template');
    assert.deepEqual(await strayProcesses(tag), [], 'processes left behind');
    rmSync(out, { recursive: true, force: true });
  });
}
