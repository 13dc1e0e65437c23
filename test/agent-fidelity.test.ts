// The fidelity suite with the agent as the engine: each scenario program runs
// unmodified under libforkall-agent.so, freezes at its snapshot point
// (forkall_snapshot()), and two clones of the frozen template must each run
// to the end and do exactly what the original program does: each clone's
// transcript must equal the transcript of the same program let go at its
// snapshot point without any clone (the original, uncloned), and begin with
// what the template itself logged before it froze (template.log). glibc
// builds only (the musl scenarios are static: nothing can be preloaded into them).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnTemplate } from '../src/server/template.js';
import { scenarios } from './helpers/scenarios.js';
import { runScenario, scenarioPath } from './helpers/run-scenario.js';
import { readTranscript, diffTranscripts, mismatches, type Transcript } from './helpers/transcript.js';
import { strayProcesses } from './helpers/strays.js';

/** Scenarios whose snapshot is not a plain snapshot point, so they mean something else under the agent (also: every spec's inProcessOnly). */
const notForTheAgent: Record<string, string> = {
  from_worker: 'checks that the forking worker becomes the leader; under the agent the main thread stays the leader',
};
// The private_* scenarios make the parent and its clone meet and compare what each sees;
// under the agent the template is frozen and never meets anyone, and the uncloned original
// this file compares against waits for a partner that never comes. The agent's private
// event objects are checked by test/agent-servers.test.ts (event_objects fixture: a second
// clone of one template sees none of what the first did, every object kind).
for (const name of ['private_eventfd', 'private_epoll', 'private_timerfd', 'private_signalfd', 'private_inotify', 'private_pipe', 'private_tcp'])
  notForTheAgent[name] = 'parent and clone must meet; a frozen template never does (the agent\'s private objects: test/agent-servers.test.ts)';

/** Labels whose lines in `clone` do not begin with the template's lines for that label. */
function notContinuing(template: Transcript, clone: Transcript): string[] {
  const out: string[] = [];
  for (const [label, before] of template) {
    const after = clone.get(label) ?? [];
    if (JSON.stringify(after.slice(0, before.length)) !== JSON.stringify(before))
      out.push(`${label}: the template logged ${JSON.stringify(before)} before it froze, the clone's transcript begins ${JSON.stringify(after.slice(0, before.length))}`);
  }
  return out;
}

for (const s of scenarios) {
  const skip = notForTheAgent[s.name] ?? s.inProcessOnly ?? false;
  test(`${s.name} [glibc] under the agent: two clones of the frozen template each do what the original does`, { skip, timeout: 240_000 }, async () => {
    // the original: the same program let go at its snapshot point, no clone made
    const original = await runScenario(s.name, { flavour: 'glibc', engine: 'uncloned', timeoutMs: s.timeoutMs });
    assert.deepEqual([original.code, original.signal], [0, null], `the original run of ${s.name}: ${original.stderr}`);
    assert.ok(original.parent, 'the original wrote no transcript');
    assert.deepEqual(mismatches(original.parent), [], 'checks failed in the original');

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
    const template = readTranscript(join(out, 'template.log'));
    assert.ok(template, `the template wrote no transcript before it froze; stderr: ${stderr}`);
    const logs = readdirSync(out).filter((f) => f.startsWith('clone-'));
    assert.equal(logs.length, 2, `transcripts: ${logs.join(', ')}; stderr: ${stderr}`);
    for (const f of logs) {
      const clone = readTranscript(join(out, f))!;
      assert.deepEqual(mismatches(clone), [], `checks failed in ${f}`);
      assert.deepEqual(notContinuing(template, clone), [], `${f} does not continue the template's transcript`);
      assert.deepEqual(diffTranscripts(original.parent, clone), [], `${f} differs from the original program's transcript`);
      // every program thread frozen in the template came back in the clone
      const counted = clone.get('main')?.find((l) => l.startsWith('threads='));
      if (counted) assert.equal(counted, `threads=${frozenThreads}`, `${f}: thread count in the clone vs frozen in the template`);
    }
    assert.deepEqual(await strayProcesses(tag), [], 'processes left behind');
    rmSync(out, { recursive: true, force: true });
  });
}
