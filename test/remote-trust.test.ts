// The remote engine's promises under pressure (issue 8): the original is left
// exactly as it was, whatever happens to the engine or to the clone, and a
// clone reported as made is whole. Targets: test/fixtures/trust_target.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { ourChildren, sleep } from './helpers/programs.js';
import { processAlive, startTrustTarget, threadStates, whyNotWorking, type TrustTarget } from './helpers/trust-target.js';
import { closedToOthers } from './helpers/closed-dir.js';
import { killAndWait } from './helpers/kill-wait.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const asRoot = process.getuid?.() === 0;


const status = (pid: number, field: string, tid = pid) => spawnSync('sh', ['-c', `grep '^${field}:' /proc/${pid}/task/${tid}/status`], { encoding: 'utf8' }).stdout.trim();

function cloneCli(args: string[], prefix: string[] = []) {
  const argv = [...prefix, process.execPath, cli, 'clone', ...args];
  return spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 120_000 });
}

async function withTarget(mode: string, body: (t: TrustTarget) => Promise<void>, prefix: string[] = []) {
  const t = await startTrustTarget(mode, prefix);
  try {
    await body(t);
  } finally {
    await killAndWait(...ourChildren().filter((p) => p !== t.pid), t.pid);
  }
}

test('seccomp: a thread filtered unlike the forker is refused (exit 5, naming the thread), the original untouched', { timeout: 120_000 }, async () => {
  await withTarget('seccomp-worker', async (t) => {
    const filtered = threadStates(t.pid).find((s) => /Seccomp:\s*2/.test(status(t.pid, 'Seccomp', s.tid)));
    assert.ok(filtered, 'the fixture has a filtered thread');
    const r = cloneCli(['-p', String(t.pid)]);
    assert.equal(r.status, 5, `exit ${r.status}; stdout ${r.stdout}; stderr ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`PID ${t.pid}: thread ${filtered.tid} has Seccomp 2, Seccomp_filters 1, but thread ${t.pid}, .* has Seccomp 0, Seccomp_filters 0`));
    assert.equal(await whyNotWorking(t), '');
  });
});

test('a thread caught on its way out (stack already unmapped, as in musl\'s detached-thread exit) does not fail the clone: the engine gives everything back and tries again', { timeout: 120_000 }, async () => {
  await withTarget('exiting-thread', async (t) => {
    const r = cloneCli(['-p', String(t.pid), '--json']);
    assert.equal(r.status, 0, `exit ${r.status}; stderr ${r.stderr}`);
    const report = JSON.parse(r.stdout);
    assert.equal(report.clones[0].threads, report.threads, 'every thread of the original at the clone');
    assert.equal(await whyNotWorking(t), '');
    await killAndWait(report.clones[0].pid);
  });
});

test('seccomp strict mode in a thread is refused (exit 5): the injected calls would kill it', { timeout: 120_000 }, async () => {
  await withTarget('seccomp-strict', async (t) => {
    const r = cloneCli(['-p', String(t.pid)]);
    assert.equal(r.status, 5, `exit ${r.status}; stderr ${r.stderr}`);
    assert.match(r.stderr, /is in seccomp strict mode \(Seccomp: 1\)/);
    assert.ok(processAlive(t.pid), 'the original is alive');
    assert.deepEqual(threadStates(t.pid).filter((s) => s.tracer || s.state === 't'), []);
  });
});

test('seccomp: one filter shared by every thread is cloned, and every clone thread has it', { timeout: 120_000 }, async () => {
  await withTarget('seccomp-all', async (t) => {
    const r = cloneCli(['-p', String(t.pid), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout).clones[0].pid as number;
    for (const s of threadStates(c)) assert.match(status(c, 'Seccomp_filters', s.tid), /Seccomp_filters:\s*1$/, `clone thread ${s.tid}`);
    assert.equal(await whyNotWorking(t, c), '', 'the clone works');
    assert.equal(await whyNotWorking(t), '', 'the original works');
  });
});

/** A small seeded PRNG (mulberry32): the kill instants of a run can be replayed from its seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const seedFromEnv = () => (process.env.FORKALL_TEST_SEED ? Number(process.env.FORKALL_TEST_SEED) : Math.floor(Math.random() * 2 ** 31));

/** Our children running the target's program, the target aside: its clones (siblings of the target, so our children). */
function clonesOf(target: number): number[] {
  const exe = (p: number) => {
    try {
      return readlinkSync(`/proc/${p}/exe`);
    } catch {
      return '';
    }
  };
  const prog = exe(target);
  return ourChildren().filter((p) => p !== target && (exe(p) === prog || ['Z', 'X'].includes(stateOf(p))));
}

/** Every clone of `target`: killed and reaped. */
async function reapOthers(target: number) {
  await killAndWait(...clonesOf(target));
}

function stateOf(pid: number): string {
  try {
    return /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))![1]!;
  } catch {
    return 'gone';
  }
}

const engineKills = Number(process.env.FORKALL_ENGINE_KILLS ?? 24);

test(`killing the engine (a clone loop running it on its main thread, as forkall clone does) at ${engineKills} seeded random instants never harms the original, and no half-built clone survives (FORKALL_ENGINE_KILLS=200 for the soak)`, { timeout: 120_000 + engineKills * 20_000 }, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (replay with FORKALL_TEST_SEED=${seed})`);
  console.log(`engine-kill test: seed ${seed}`);
  const random = prng(seed);
  const loop = join(packageRoot, 'test', 'fixtures', 'clone-loop.ts');
  await withTarget('', async (target) => {
    const threads = threadStates(target.pid).length;
    let made = 0;
    let errors = 0;
    let unreported = 0;
    const cloneUs: number[] = [];
    for (let k = 0; k < engineKills; k++) {
      const r = random();
      const engine = spawn(process.execPath, ['--import', 'tsx', loop, String(target.pid)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let out = '';
      const started = new Promise<void>((res, rej) => {
        engine.stdout!.on('data', (d) => {
          out += d;
          if (/START.*\n/.test(out)) res();
        });
        engine.once('exit', () => rej(new Error(`the clone loop exited before START: ${out}`)));
      });
      const exited = new Promise((res) => engine.once('exit', res));
      await started;
      // anywhere in the next clone or two: the warm-up clone took longer than the ones after it
      const warmMs = Number(/START \d+ (\d+)/.exec(out)?.[1] ?? 40_000) / 1000;
      const delay = r * warmMs * 1.2;
      await sleep(delay);
      engine.kill('SIGKILL');
      await exited;
      const reported = new Set([...out.matchAll(/(?:CLONE|START) (\d+)/g)].map((m) => Number(m[1])));
      made += reported.size - 1;
      cloneUs.push(...[...out.matchAll(/(?:CLONE|START) \d+ (\d+)/g)].map((m) => Number(m[1])));
      errors += [...out.matchAll(/^ERROR (.*)$/gm)].length;
      const where = `kill ${k + 1} at ${delay.toFixed(1)} ms after START (seed ${seed})`;
      assert.equal(await whyNotWorking(target), '', `${where}: the original`);
      assert.equal(threadStates(target.pid).length, threads, `${where}: the original's thread count`);
      // a clone not reported as made is either half-built, and must die on its
      // own, or was finished just before the kill (the engine died before
      // saying so): then it must be whole and working like any clone
      if ((await noHalfClone(target, threads, reported, where)) === 'whole') unreported++;
      await reapOthers(target.pid);
    }
    cloneUs.sort((a, b) => a - b);
    t.diagnostic(`a clone of this target takes ${cloneUs[cloneUs.length >> 1]} µs (median of ${cloneUs.length}); each kill lands at a random instant within 1.2 x the warm-up clone's time after it`);
    t.diagnostic(`${engineKills} kills, ${made} clones completed between them, ${unreported} finished just before a kill (unreported), ${errors} clone errors`);
    assert.equal(errors, 0, 'the clone loop reported errors');
  });
});

/** `forkall clone -p pid --json ...`, its output collected as it comes. */
function startCloneCli(pid: number, extra: string[] = []) {
  const cli = spawn(process.execPath, [join(packageRoot, 'bin', 'forkall.js'), 'clone', '-p', String(pid), '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const io = { out: '', err: '' };
  cli.stdout!.on('data', (d) => (io.out += d));
  cli.stderr!.on('data', (d) => (io.err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) => cli.once('exit', (code, signal) => res({ code, signal })));
  return { cli, io, exited };
}

const tracerPid = (pid: number) => Number(/^TracerPid:\s*(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

/**
 * Resolves true the moment `tracer` holds `target` (it seized it: TracerPid),
 * false when `tracer` ends first. Spins on the event loop: the hold lasts
 * milliseconds. Bounded by 120 s.
 */
async function seizedBy(target: number, tracer: number): Promise<boolean> {
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    if (tracerPid(target) === tracer) return true;
    if (['Z', 'X', 'gone'].includes(stateOf(tracer))) return false;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`forkall clone ${tracer} did not seize ${target} within 120 s`);
}

/** A clone of `target` not reported as made must die on its own or be whole and working. */
async function noHalfClone(target: TrustTarget, threads: number, reported: Set<number>, where: string): Promise<'dead' | 'whole'> {
  let outcome: 'dead' | 'whole' = 'dead';
  for (const c of clonesOf(target.pid).filter((p) => !reported.has(p))) {
    const deadline = Date.now() + 30_000;
    const dead = () => ['Z', 'X', 'gone'].includes(stateOf(c));
    const whole = () => threadStates(c).length === threads && threadStates(c).every((s) => !s.tracer && s.state !== 't');
    while (!dead() && !whole() && Date.now() < deadline) await sleep(10);
    if (dead()) continue;
    let why: string;
    try {
      why = await whyNotWorking(target, c);
    } catch (e) {
      why = String(e);
    }
    if (dead()) continue;
    const n = threadStates(c).length;
    assert.ok(why === '' && n === threads, `${where}: clone ${c}, not reported, is alive but not a whole working clone (${n} of ${threads} threads; ${why})`);
    outcome = 'whole';
  }
  return outcome;
}

test(`killing the engine: forkall clone -p itself SIGKILLed at ${engineKills} seeded random instants after it seized the target never harms the original, and no half-built clone survives`, { timeout: 120_000 + engineKills * 20_000 }, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (replay with FORKALL_TEST_SEED=${seed})`);
  console.log(`cli-kill test: seed ${seed}`);
  const random = prng(seed);
  await withTarget('', async (target) => {
    const threads = threadStates(target.pid).length;
    // how long a clone takes in a fresh command (cold: no JIT yet): the kills land within 1.2 x that after the seize
    const warm = startCloneCli(target.pid);
    const w = await warm.exited;
    assert.equal(w.code, 0, warm.io.err);
    const windowMs = (JSON.parse(warm.io.out).totalUs as number) / 1000 * 1.2;
    await reapOthers(target.pid);
    const outcomes = { killed: 0, finishedFirst: 0, unreportedWhole: 0, missed: 0 };
    for (let k = 0; k < engineKills; k++) {
      const delay = random() * windowMs;
      const run = startCloneCli(target.pid);
      const where = `kill ${k + 1} at ${delay.toFixed(1)} ms after the seize (seed ${seed})`;
      if (!(await seizedBy(target.pid, run.cli.pid!))) {
        outcomes.missed++; // it ended before we saw it hold the target (it cannot have failed: checked below)
        const r = await run.exited;
        assert.equal(r.code, 0, `${where}: ${run.io.err}`);
      } else {
        const until = performance.now() + delay;
        while (performance.now() < until); // sub-millisecond: a timer would round it up
        run.cli.kill('SIGKILL');
        const r = await run.exited;
        if (r.code === 0) outcomes.finishedFirst++;
        else outcomes.killed++;
      }
      assert.equal(await whyNotWorking(target), '', `${where}: the original`);
      assert.equal(threadStates(target.pid).length, threads, `${where}: the original's thread count`);
      const reported = new Set<number>();
      try {
        for (const c of JSON.parse(run.io.out).clones as { pid: number }[]) reported.add(c.pid);
      } catch {
        // killed before it printed
      }
      if ((await noHalfClone(target, threads, reported, where)) === 'whole') outcomes.unreportedWhole++;
      await reapOthers(target.pid);
    }
    t.diagnostic(`a cold clone of this target took ${(windowMs / 1.2).toFixed(1)} ms; ${JSON.stringify(outcomes)}`);
  });
});

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  test(`${sig} to forkall clone -p while it holds the target waits until the target runs again: the clone is made and reported, exit 130, the original untouched`, { timeout: 300_000 }, async () => {
    await withTarget('', async (target) => {
      // caught mid-hold for sure: stopped (SIGSTOP) while it is the target's tracer, then signalled, then let go on
      for (let attempt = 1; ; attempt++) {
        const run = startCloneCli(target.pid);
        const held = await seizedBy(target.pid, run.cli.pid!);
        if (held) run.cli.kill('SIGSTOP');
        const caught = held && (await waitStopped(run.cli.pid!)) && tracerPid(target.pid) === run.cli.pid;
        if (caught) run.cli.kill(sig);
        run.cli.kill('SIGCONT');
        const r = await run.exited;
        if (!caught) {
          assert.equal(r.code, 0, run.io.err);
          await reapOthers(target.pid);
          assert.ok(attempt < 20, 'never caught forkall clone while it held the target in 20 tries');
          continue;
        }
        assert.equal(r.code, 130, `exit ${r.code ?? r.signal}: ${run.io.err}`);
        const clone = JSON.parse(run.io.out).clones[0] as { pid: number; threads: number };
        assert.equal(clone.threads, threadStates(target.pid).length);
        assert.equal(await whyNotWorking(target, clone.pid), '', 'the clone works');
        assert.equal(await whyNotWorking(target), '', 'the original works');
        return;
      }
    });
  });
}

test('SIGKILL to forkall clone -p while it holds the target lets every thread go unchanged', { timeout: 300_000 }, async () => {
  await withTarget('', async (target) => {
    const threads = threadStates(target.pid).length;
    for (let attempt = 1; ; attempt++) {
      const run = startCloneCli(target.pid);
      const held = await seizedBy(target.pid, run.cli.pid!);
      if (held) run.cli.kill('SIGSTOP');
      const caught = held && (await waitStopped(run.cli.pid!)) && tracerPid(target.pid) === run.cli.pid;
      run.cli.kill(caught ? 'SIGKILL' : 'SIGCONT');
      const r = await run.exited;
      if (!caught) {
        await reapOthers(target.pid);
        assert.ok(attempt < 20, 'never caught forkall clone while it held the target in 20 tries');
        continue;
      }
      assert.equal(r.signal, 'SIGKILL');
      assert.equal(await whyNotWorking(target), '', 'the original works');
      assert.equal(threadStates(target.pid).length, threads);
      await noHalfClone(target, threads, new Set(), 'SIGKILL while held');
      return;
    }
  });
});

/** Waits until `pid` is in a stop (state T), at most 60 s; false if it ended instead. */
async function waitStopped(pid: number): Promise<boolean> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const s = stateOf(pid);
    if (s === 'T') return true;
    if (['Z', 'X', 'gone'].includes(s)) return false;
    await new Promise((r) => setImmediate(r));
  }
  throw new Error(`process ${pid} did not stop within 60 s`);
}

test('a clone killed from outside while being built is reported as a failed clone naming it (exit 8), never as the target exiting or as made', { timeout: 600_000 }, async (t) => {
  const seed = seedFromEnv();
  t.diagnostic(`seed ${seed} (replay with FORKALL_TEST_SEED=${seed})`);
  const random = prng(seed);
  await withTarget('', async (target) => {
    const outcomes: string[] = [];
    let killedDuringBuild = 0;
    for (let k = 0; k < 20; k++) {
      const killed = new Set<number>();
      let done = false;
      // kill each clone seen under construction (every thread in a tracing stop) after a random delay
      const killer = (async () => {
        const seen = new Map<number, number>();
        while (!done) {
          for (const c of clonesOf(target.pid)) {
            if (killed.has(c)) continue;
            const building = () => {
              const s = threadStates(c);
              return s.length > 0 && s.every((x) => x.state === 't' && x.tracer);
            };
            if (!seen.has(c)) {
              if (building()) seen.set(c, Date.now() + random() * 4);
              continue;
            }
            if (Date.now() >= seen.get(c)! && building()) {
              process.kill(c, 'SIGKILL');
              killed.add(c);
            }
          }
          await new Promise((r) => setImmediate(r));
        }
      })();
      const cli = spawn(process.execPath, [join(packageRoot, 'bin', 'forkall.js'), 'clone', '-p', String(target.pid), '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      cli.stdout!.on('data', (d) => (out += d));
      cli.stderr!.on('data', (d) => (err += d));
      const code = await new Promise<number | null>((res) => cli.once('exit', (c) => res(c)));
      done = true;
      await killer;
      const where = `try ${k + 1} (seed ${seed}): exit ${code}, killed ${[...killed].join(',') || 'none'}; ${err.trim()}`;
      outcomes.push(`${code}${killed.size ? ' (killed)' : ''}`);
      assert.ok(code === 0 || code === 8, where);
      if (code === 8) {
        const m = /clone (\d+) of process (\d+) died while being built/.exec(err);
        assert.ok(m, `${where}: the message names the clone that died`);
        assert.equal(Number(m[2]), target.pid, where);
        assert.ok(killed.has(Number(m[1])), `${where}: the clone named is the one killed`);
        killedDuringBuild++;
      } else {
        const c = JSON.parse(out).clones[0] as { pid: number; threads: number };
        assert.ok(!killed.has(c.pid), `${where}: clone ${c.pid} was reported as made, but it was killed while being built`);
        assert.equal(c.threads, threadStates(target.pid).length, where);
      }
      assert.equal(await whyNotWorking(target), '', `${where}: the original`);
      await reapOthers(target.pid);
    }
    t.diagnostic(`outcomes: ${outcomes.join(', ')}; ${killedDuringBuild} reported as killed while being built`);
  });
});

const CAP_LINES = ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp'];
const capLines = (pid: number, tid: number) => CAP_LINES.map((f) => status(pid, f, tid)).join('; ');
/** nobody, with a bounding set narrower than root's (so a widened one shows) */
const asNobody = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-net_raw,-sys_resource,-sys_ptrace'];

for (const forkallAs of ['root', 'nobody'] as const) {
  // the clone's namespace init, a copy of the nobody target, execs forkall-ns-init from the checkout
  const closed = closedToOthers();
  const skip = !asRoot
    ? 'needs root to start a target as nobody'
    : closed
      ? `nobody cannot run forkall's programs from this checkout: ${closed} is closed to other users (e.g. a mktemp -d directory)`
      : false;
  test(`--exact-tids with forkall run as ${forkallAs} on a target running as nobody: the clone works and every thread, and its init, has the original's capability sets`, { skip, timeout: 120_000 }, async () => {
    await withTarget(
      '',
      async (t) => {
        const want = capLines(t.pid, t.pid);
        const r = cloneCli(['-p', String(t.pid), '--exact-tids', '--json'], forkallAs === 'nobody' ? asNobody.slice(0, 5) : []);
        assert.equal(r.status, 0, `exit ${r.status}: ${r.stderr}`);
        assert.doesNotMatch(r.stderr, /errno \d/, 'no bare errno');
        const c = JSON.parse(r.stdout).clones[0] as { pid: number; childPid: number; threads: number };
        assert.equal(await whyNotWorking(t, c.childPid), '', 'the clone works');
        for (const s of threadStates(t.pid)) assert.equal(capLines(t.pid, s.tid), want, `original thread ${s.tid} (the fixture's threads share one set)`);
        for (const s of threadStates(c.childPid)) assert.equal(capLines(c.childPid, s.tid), want, `clone thread ${s.tid}`);
        assert.equal(capLines(c.pid, c.pid), want, `the namespace init ${c.pid}`);
        assert.equal(await whyNotWorking(t), '', 'the original works');
      },
      asNobody,
    );
  });
}

test('a thread with fewer capabilities than the leader gets exactly its own in the clone', { skip: asRoot ? false : 'needs root (capabilities to drop)', timeout: 120_000 }, async () => {
  await withTarget('caps-worker-drop', async (t) => {
    const r = cloneCli(['-p', String(t.pid), '--json']);
    assert.equal(r.status, 0, r.stderr);
    const c = JSON.parse(r.stdout).clones[0] as { pid: number; tids: Record<string, number> };
    const lines = new Set(threadStates(t.pid).map((s) => capLines(t.pid, s.tid)));
    assert.equal(lines.size, 2, 'the fixture has a thread with capabilities of its own');
    for (const [orig, copy] of Object.entries(c.tids)) assert.equal(capLines(c.pid, copy), capLines(t.pid, Number(orig)), `clone thread ${copy} (original ${orig})`);
    assert.equal(await whyNotWorking(t, c.pid), '', 'the clone works');
  });
});

test('a thread that cannot get its state back fails the clone (exit 8), naming the thread and the call; the half-built clone is killed and collected', { skip: asRoot ? false : 'needs root (capabilities to drop)', timeout: 120_000 }, async () => {
  await withTarget('caps-leader-drop', async (t) => {
    const before = new Set(clonesOf(t.pid));
    const r = cloneCli(['-p', String(t.pid), '--json']);
    assert.equal(r.status, 8, `exit ${r.status}; ${r.stdout} ${r.stderr}`);
    const m = /clone (\d+) of process (\d+) could not be built: capset, giving it its original's capabilities, in thread (\d+) failed: EPERM/.exec(r.stderr);
    assert.ok(m, r.stderr);
    assert.equal(Number(m[2]), t.pid);
    const clone = Number(m[1]);
    assert.ok(!before.has(clone));
    assert.ok(!processAlive(clone), `the half-built clone ${clone} is dead`);
    assert.ok(['Z', 'gone'].includes(stateOf(clone)), `state ${stateOf(clone)}`);
    assert.equal(await whyNotWorking(t), '', 'the original works');
  });
});
