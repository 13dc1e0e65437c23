// The remote engine's promises under pressure (issue 8): the original is left
// exactly as it was, whatever happens to the engine or to the clone, and a
// clone reported as made is whole. Targets: test/fixtures/trust_target.c.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { waitForExit } from '../src/remote/wait-exit.js';
import { ourChildren } from './helpers/programs.js';
import { processAlive, startTrustTarget, threadStates, whyNotWorking, type TrustTarget } from './helpers/trust-target.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const asRoot = process.getuid?.() === 0;

async function end(...pids: number[]) {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const p of pids) await waitForExit(p);
}

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
    await end(...ourChildren().filter((p) => p !== t.pid), t.pid);
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
