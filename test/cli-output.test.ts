// What the forkall command prints: tables, counts, system-call names, the
// version, errors as JSON with --json, how `clone --wait` reports each end, and
// the refusal to clone the controller of a served template.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { packageRoot, toolBinary } from '../src/native/paths.js';
import { syscallName } from '../src/proc/syscalls.js';
import { waitForExit } from '../src/remote/wait-exit.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const forkall = (args: string[]) => {
  const r = spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

/** forkall-target with `threads` threads, blocked (main in read(0), workers in a condition wait) until its stdin ends. */
async function startTarget(threads: number): Promise<ChildProcess> {
  const p = spawn(toolBinary('forkall-target'), [String(threads), '1', 'idle'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const line = await new Promise<string>((res, rej) => {
    createInterface({ input: p.stdout! }).once('line', res);
    p.once('exit', (c) => rej(new Error(`forkall-target exited (${c}) before it was ready`)));
  });
  assert.match(line, /^READY \d+/);
  return p;
}

async function stop(p: ChildProcess | undefined): Promise<void> {
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  p.kill('SIGKILL');
  await new Promise((r) => p.once('exit', r));
}

/** Waits until every thread of `pid` sleeps in a system call (read from /proc, no tracing). */
async function untilBlocked(pid: number, threads: number): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const r = forkall(['threads', '-p', String(pid), '--json']);
    const t = JSON.parse(r.stdout).threads as { syscall: string }[];
    if (t.length === threads && t.every((x) => x.syscall !== 'running' && x.syscall !== '')) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  assert.fail(`the threads of ${pid} never all blocked`);
}

test('forkall threads: one rule under the header and none between rows, call names, "1 thread"', { timeout: 120_000 }, async () => {
  let one: ChildProcess | undefined;
  let four: ChildProcess | undefined;
  try {
    one = await startTarget(1);
    await untilBlocked(one.pid!, 1);
    const a = forkall(['threads', '-p', String(one.pid)]);
    assert.equal(a.code, 0, a.stderr);
    assert.match(a.stdout, new RegExp(`^1 thread in process ${one.pid}$`, 'm'));
    assert.match(a.stdout, /│ read /);

    four = await startTarget(4);
    await untilBlocked(four.pid!, 4);
    const b = forkall(['threads', '-p', String(four.pid)]);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stdout, new RegExp(`^4 threads in process ${four.pid}$`, 'm'));
    assert.equal(b.stdout.split('\n').filter((l) => l.startsWith('├')).length, 1, b.stdout); // under the header only
    assert.equal(b.stdout.split('\n').filter((l) => l.startsWith('│')).length, 5, b.stdout); // header + 4 rows
    assert.match(b.stdout, /│ futex /);
    assert.doesNotMatch(b.stdout, /syscall \d+/);
  } finally {
    await stop(one);
    await stop(four);
  }
});

test('every x86-64 system call of the kernel headers has its name', (t) => {
  const header = '/usr/include/x86_64-linux-gnu/asm/unistd_64.h';
  if (!existsSync(header)) return t.skip(`${header} not found (linux-libc-dev): nothing to compare with`);
  let n = 0;
  for (const m of readFileSync(header, 'utf8').matchAll(/^#define __NR_(\w+)\s+(\d+)$/gm)) {
    assert.equal(syscallName(Number(m[2])), m[1], `system call ${m[2]}`);
    n++;
  }
  assert.ok(n > 300, `only ${n} calls in ${header}`);
  assert.equal(syscallName(219), 'restart_syscall');
  assert.equal(syscallName(9999), 'syscall 9999');
});

test('forkall --version prints the version of package.json', () => {
  const r = forkall(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout.trim(), JSON.parse(readFileSync(join(packageRoot, 'package.json'), 'utf8')).version);
});

test('with --json a failure prints {"error":{code,message,exitCode,pid}} on stdout too', () => {
  const gone = spawnSync('true').pid!; // a PID that has just ended
  const a = forkall(['threads', '-p', String(gone), '--json']);
  assert.equal(a.code, 4, a.stderr);
  assert.match(a.stderr, new RegExp(`^forkall: .*${gone}`, 'm'));
  const e = JSON.parse(a.stdout).error;
  assert.equal(e.code, 'no-such-process');
  assert.equal(e.exitCode, 4);
  assert.equal(e.pid, gone);
  assert.match(e.message, new RegExp(String(gone)));

  const b = forkall(['clone', '-p', 'abc', '--json']);
  assert.equal(b.code, 2);
  assert.deepEqual(Object.keys(JSON.parse(b.stdout).error).sort(), ['code', 'exitCode', 'message']);
  assert.equal(JSON.parse(b.stdout).error.code, 'usage');
  assert.match(JSON.parse(b.stdout).error.message, /-p/);

  const c = forkall(['threads', '--json']); // commander's own error: -p missing
  assert.equal(c.code, 2);
  assert.match(JSON.parse(c.stdout).error.message, /--pid/);

  const d = forkall(['threads', '-p', 'abc']); // no --json: stderr only
  assert.equal(d.code, 2);
  assert.equal(d.stdout, '');
});

test('forkall clone --wait says how each clone ended: exit status or signal', { timeout: 180_000 }, async () => {
  let target: ChildProcess | undefined;
  let run: ChildProcess | undefined;
  const clones: number[] = [];
  try {
    target = await startTarget(3);
    run = spawn(process.execPath, [cli, 'clone', '-p', String(target.pid), '-n', '2', '--wait'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    run.stderr!.on('data', (d) => (err += d));
    const lines = createInterface({ input: run.stdout! });
    const exited = new Promise<number | null>((r) => run!.once('close', (c) => r(c))); // after its output is read
    lines.on('line', (l) => {
      out += l + '\n';
      const m = /^│ (\d+) +│ 3 /.exec(l);
      if (m) clones.push(Number(m[1]));
      if (/clone\(s\) of process/.test(l)) {
        process.kill(clones[0], 'SIGTERM'); // the first is killed;
        target!.stdin!.end(); // the second reads EOF with the target and exits 0
      }
    });
    assert.equal(await exited, 0, err + out);
    assert.equal(clones.length, 2, out);
    assert.match(out, new RegExp(`^clone ${clones[0]} ended \\(killed by SIGTERM\\)$`, 'm'));
    assert.match(out, new RegExp(`^clone ${clones[1]} ended \\(exit 0\\)$`, 'm'));
    assert.match(out, /\(3 threads\)/);
  } finally {
    for (const c of clones) {
      try {
        process.kill(c, 'SIGKILL');
      } catch {
        // ended
      }
      await waitForExit(c); // the target's sibling: this process reaps it
    }
    await stop(run);
    await stop(target);
  }
});

test("forkall clone -p on a 'forkall run --serve' process exits 5 and names the template to clone", { timeout: 120_000 }, async () => {
  const run = spawn(process.execPath, [cli, 'run', '--at', 'request', '--serve', '--json', '--', 'sleep', '300'], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const serving = await new Promise<{ templatePid: number }>((res, rej) => {
      createInterface({ input: run.stdout! }).on('line', (l) => {
        if (l.includes('"serving"')) res(JSON.parse(l));
      });
      run.once('exit', (c) => rej(new Error(`forkall run --serve exited (${c})`)));
    });
    const r = forkall(['clone', '-p', String(run.pid)]);
    assert.equal(r.code, 5, r.stderr + r.stdout);
    assert.match(r.stderr, new RegExp(`serves template ${serving.templatePid}.*forkall clone -p ${serving.templatePid}$`, 'm'));
    const j = forkall(['clone', '-p', String(run.pid), '--json']);
    assert.equal(j.code, 5);
    assert.deepEqual({ ...JSON.parse(j.stdout).error, message: '' }, { code: 'bad-target', exitCode: 5, pid: run.pid, message: '' });
  } finally {
    const ended = new Promise((r) => (run.exitCode !== null ? r(null) : run.once('exit', r)));
    run.kill('SIGINT'); // ends the template too
    await ended;
  }
});
