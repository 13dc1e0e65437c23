// One-reply clones (Template.run, FA_CLONE_ONE_REPLY), the report pages the
// agent lends clone after clone, and the agent thread's name: what makes a
// template's clone cheap must change nothing a clone or its program sees.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { toolBinary } from '../src/native/paths.js';
import { spawnTemplate } from '../src/server/template.js';
import { waitFor } from './helpers/wait.js';
import { buildMixedThreads, untilReady } from './helpers/mixed-threads.js';

let dir = '';
let mixed = '';
let removeFixture = (): void => {};

before(() => {
  ({ dir, binary: mixed, remove: removeFixture } = buildMixedThreads('forkall-agent-run-'));
});
after(() => removeFixture());


const comms = (pid: number): string[] =>
  readdirSync(`/proc/${pid}/task`).map((t) => readFileSync(`/proc/${pid}/task/${t}/comm`, 'utf8').trim()).sort();

/** The shared anonymous mappings of a process (MAP_SHARED|MAP_ANONYMOUS shows as /dev/zero). */
const sharedAnon = (pid: number): string[] =>
  readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter((l) => / rw-s .*\/dev\/zero/.test(l));

test('run(): 100 clones one after another and 20 at once (more than the 64 report pages), each one reply with its PID, threads and exit 0', { timeout: 300_000 }, async () => {
  const t = await spawnTemplate(toolBinary('forkall-target'), ['8', '4', 'agent'], { at: { delayMs: 600_000 }, stdio: 'ignore', timeoutMs: 120_000 });
  try {
    assert.equal(await t.frozenState(), 8);
    const pids = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const r = await t.run();
      assert.deepEqual({ exitCode: r.exitCode, signal: r.signal, status: r.status, threads: r.threads, notCopied: r.notCopied }, { exitCode: 0, signal: null, status: 0, threads: 8, notCopied: [] });
      assert.ok(r.pid > 0 && r.pid !== t.pid);
      pids.add(r.pid);
    }
    const together = await Promise.all(Array.from({ length: 20 }, () => t.run()));
    for (const r of together) assert.equal(r.exitCode, 0);
    assert.equal(new Set(together.map((r) => r.pid)).size, 20, 'twenty distinct clones');
    assert.deepEqual(t.liveClones, [], 'a run clone is never left among the live ones');
    // clone() and run() mixed on one template: each gets its own kind of reply
    const [c, r] = await Promise.all([t.clone(), t.run()]);
    assert.equal(r.exitCode, 0);
    assert.deepEqual(await c.exited, { exitCode: 0, signal: null, status: 0 });
  } finally {
    await t.close();
  }
});

test('run() with the clone\'s stdout on a file (CLONE_STDIO with flags); stdio \'pipe\' is refused', { timeout: 300_000 }, async () => {
  const t = await spawnTemplate(mixed, ['4', '1'], { stdio: ['ignore', 'pipe', 'inherit'], timeoutMs: 60_000 });
  const file = join(dir, 'out.txt');
  const fd = openSync(file, 'w');
  try {
    await untilReady(t);
    assert.equal(await t.requestSnapshot(), 5);
    const r = await t.run({ stdio: ['ignore', fd, 'inherit'] });
    assert.equal(r.exitCode, 0, 'the clone counted its 5 threads');
    assert.match(readFileSync(file, 'utf8'), new RegExp(`^clone ${r.pid} threads=5$`, 'm'));
    await assert.rejects(t.run({ stdio: 'pipe' }), TypeError);
  } finally {
    closeSync(fd);
    await t.close();
  }
});

test('the agent thread takes the main thread\'s name; a clone\'s threads have the program\'s names and none of the agent\'s report pages', { timeout: 300_000 }, async () => {
  const t = await spawnTemplate(mixed, ['6', '1', 'stay'], { stdio: ['ignore', 'pipe', 'inherit'], timeoutMs: 60_000 });
  let clone = 0;
  try {
    await untilReady(t);
    const pid = t.process.pid!; // the program itself (t.pid may not have its HELLO yet)
    const before = comms(pid);
    assert.equal(await t.requestSnapshot(), 7);
    const main = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    // the template: the program's 7 threads and the agent's, now under the main thread's name
    assert.deepEqual(comms(pid), [...before.filter((n) => n !== 'forkall-agent'), main].sort());
    assert.equal(sharedAnon(pid).length, 1, 'the template maps one pool of report pages');
    for (let i = 0; i < 3; i++) {
      // several clones: the pages lent to the earlier ones are reused
      const c = await t.clone();
      clone = c.pid;
      assert.equal(c.threads, 7);
      await waitFor('the clone\'s 7 threads', () => comms(c.pid).length === 7); // whole when reported: at once
      assert.deepEqual(comms(c.pid), before.filter((n) => n !== 'forkall-agent'), 'the clone\'s threads carry the program\'s names');
      // the clone unmaps the pool just after its report (before it opens the gate to the program's
      // threads), so the reply can come a moment before the page is gone
      await waitFor('no report page left in the clone', () => sharedAnon(c.pid).length === 0);
      c.kill('SIGKILL');
      assert.equal((await c.exited).signal, 'SIGKILL');
      clone = 0;
    }
  } finally {
    if (clone) {
      try {
        process.kill(clone, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await t.close();
  }
});

test('run() with a deadline: the agent kills a clone still alive then and says so in its one reply; a clone that ends first is not touched', { timeout: 300_000 }, async () => {
  // `sleep 600` frozen after 200 ms: each clone sleeps on, until its deadline (the way forkall explore's --timeout-ms ends a hung run)
  const t = await spawnTemplate('sleep', ['600'], { at: { delayMs: 200 }, stdio: 'ignore', timeoutMs: 60_000 });
  const f = await spawnTemplate(toolBinary('forkall-target'), ['2', '4', 'agent'], { at: { delayMs: 600_000 }, stdio: 'ignore', timeoutMs: 120_000 });
  try {
    assert.equal(await t.frozenState(), 1);
    const hung = await Promise.all([t.run({ deadlineMs: 200 }), t.run({ deadlineMs: 300 }), t.run({ deadlineMs: 1 })]);
    for (const r of hung) assert.deepEqual({ signal: r.signal, killedAtDeadline: r.killedAtDeadline }, { signal: 'SIGKILL', killedAtDeadline: true });
    assert.equal(await f.frozenState(), 2);
    for (let i = 0; i < 20; i++) {
      const r = await f.run({ deadlineMs: 120_000, stdio: ['ignore', 'ignore', 'inherit'] });
      assert.deepEqual({ exitCode: r.exitCode, killedAtDeadline: r.killedAtDeadline }, { exitCode: 0, killedAtDeadline: false });
    }
    // a clone killed by someone else before its deadline: not "killed at its deadline"
    const other = t.run({ deadlineMs: 120_000 });
    let pid = 0;
    await waitFor('the clone of sleep', () => {
      // the agent thread forks: its clones are the children of the agent's task, not of the main thread's
      const kids: string[] = [];
      for (const task of readdirSync(`/proc/${t.pid}/task`))
        kids.push(...readFileSync(`/proc/${t.pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
      pid = Number(kids[0] ?? 0);
      return pid > 0;
    });
    process.kill(pid, 'SIGTERM');
    const r = await other;
    assert.deepEqual({ signal: r.signal, killedAtDeadline: r.killedAtDeadline }, { signal: 'SIGTERM', killedAtDeadline: false });
  } finally {
    await t.close();
    await f.close();
  }
});
