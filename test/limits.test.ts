// Resource limits we did not set, on a target of an unprivileged user: a
// remote clone counts against the user's RLIMIT_NPROC like any process, so
// at the limit it must fail with the limit named and leave the original
// exactly as it was; with no pending signals allowed (RLIMIT_SIGPENDING 0)
// it must still be made whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { have } from './helpers/programs.js';
import { killAndWait } from './helpers/kill-wait.js';
import { runForkall } from './helpers/cli.js';
import { waitFor } from './helpers/wait.js';

const skip = !have('python3') || !have('setpriv') ? 'needs python3 and setpriv (util-linux)' : process.getuid?.() !== 0 ? 'runs the target as nobody: needs root' : false;

// 8 threads, then a heartbeat; a clone says so with its thread count
const target = [
  'import os, threading, time',
  'for _ in range(8): threading.Thread(target=time.sleep, args=(1000,), daemon=True).start()',
  'me = os.getpid()',
  'print(f"up {me}", flush=True)',
  'n = 0',
  'while True:',
  '    if os.getpid() != me:',
  '        me = os.getpid()',
  '        print(f"clone {me} threads={threading.active_count()}", flush=True)',
  '    n += 1',
  '    if n % 10 == 0: print(f"beat {me} {n}", flush=True)',
  '    time.sleep(0.01)',
].join('\n');

/** python3 as nobody under `ulimit` options; its output lines. */
function startAsNobody(ulimits: string): { p: ChildProcess; lines: string[] } {
  const p = spawn('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'bash', '-c', `${ulimits}; exec python3 -c '${target}'`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  p.stdout!.on('data', (d: Buffer) => {
    buf += d;
    const parts = buf.split('\n');
    buf = parts.pop()!;
    lines.push(...parts);
  });
  return { p, lines };
}


const status = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8');
const field = (pid: number, key: string) => new RegExp(`^${key}:\\s*(.*)$`, 'm').exec(status(pid))?.[1];
const parentOf = (pid: number) => {
  try {
    return field(pid, 'PPid');
  } catch {
    return undefined; // gone
  }
};
const threads = (pid: number) => readdirSync(`/proc/${pid}/task`).sort();
const nobodysProcesses = () => readdirSync('/proc').filter((e) => /^\d+$/.test(e)).map(Number).filter((p) => {
  try {
    return /^Uid:\s+65534\s/m.test(status(p));
  } catch {
    return false;
  }
});

test('at its user\'s RLIMIT_NPROC a remote clone fails naming the limit and its numbers; the original runs on untouched, nothing is left behind', { skip, timeout: 120_000 }, async () => {
  const before = new Set(nobodysProcesses());
  const nobodysThreads = [...before].reduce((n, x) => n + (() => {
    try {
      return threads(x).length;
    } catch {
      return 0;
    }
  })(), 0);
  // room for the target's 9 threads and one more: the clone's threads cannot all be made
  const { p, lines } = startAsNobody(`ulimit -u ${nobodysThreads + 10}`);
  try {
    const pid = Number(await waitFor('the target', () => lines.map((l) => /^up (\d+)/.exec(l)?.[1]).find(Boolean), 30_000));
    await waitFor('9 threads', () => threads(pid).length === 9 || undefined, 30_000);
    const tids = threads(pid);
    const mask = field(pid, 'SigBlk');
    const r = await runForkall(['clone', '-p', String(pid), '--json']);
    assert.equal(r.code, 8, `exit code (stdout ${r.stdout}, stderr ${r.stderr})`);
    const err = (JSON.parse(r.stdout) as { error: { message: string } }).error.message;
    assert.match(err, /EAGAIN: a limit on processes and threads was reached — RLIMIT_NPROC of PID \d+ is \d+ and its user \(uid 65534\) runs \d+ threads/);
    assert.match(err, /the target was not affected/);
    assert.deepEqual(threads(pid), tids, 'the original\'s threads');
    assert.equal(field(pid, 'TracerPid'), '0', 'not left traced');
    assert.equal(field(pid, 'SigBlk'), mask, 'signal mask');
    const beats = lines.filter((l) => l.startsWith('beat ')).length;
    await waitFor('the original to beat on', () => lines.filter((l) => l.startsWith('beat ')).length > beats + 2 || undefined, 30_000);
    // the killed clone may stay a zombie of its parent (the target's parent: this test) until reaped
    const live = (x: number) => {
      try {
        return !/^State:\s*Z/m.test(status(x));
      } catch {
        return false;
      }
    };
    // only this test's: other sessions on the machine may start nobody processes meanwhile
    const ours = (x: number) => x === pid || [String(process.pid), String(pid)].includes(parentOf(x) ?? '');
    assert.deepEqual(nobodysProcesses().filter((x) => !before.has(x) && live(x) && ours(x)), [pid], 'no process of the clone left running');
    assert.ok(!lines.some((l) => l.startsWith('clone ')), 'no clone ran');
  } finally {
    const mine = (x: number) => [String(process.pid), String(p.pid)].includes(parentOf(x) ?? '');
    await killAndWait(p.pid!, ...nobodysProcesses().filter((x) => x !== p.pid && !before.has(x) && mine(x)));
  }
});

test('with RLIMIT_SIGPENDING 0 a remote clone is made whole and runs', { skip, timeout: 120_000 }, async () => {
  const { p, lines } = startAsNobody('ulimit -i 0');
  const pids = [p.pid!];
  try {
    const pid = Number(await waitFor('the target', () => lines.map((l) => /^up (\d+)/.exec(l)?.[1]).find(Boolean), 30_000));
    await waitFor('9 threads', () => threads(pid).length === 9 || undefined, 30_000);
    const r = await runForkall(['clone', '-p', String(pid), '--json']);
    assert.equal(r.code, 0, r.stderr);
    const clone = (JSON.parse(r.stdout) as { clones: { pid: number; threads: number }[] }).clones[0]!;
    pids.push(clone.pid);
    assert.equal(clone.threads, 9);
    await waitFor('the clone to run', () => lines.includes(`clone ${clone.pid} threads=9`) || undefined, 30_000);
    assert.equal(threads(clone.pid).length, 9);
  } finally {
    await killAndWait(...pids.reverse());
  }
});
