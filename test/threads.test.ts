// `forkall threads -p PID` on real programs nobody here wrote (python3, node),
// and its errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const forkall = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
const taskCount = (pid: number) => readdirSync(`/proc/${pid}/task`).length;

async function started(child: ChildProcess, marker: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes(marker)) resolve();
    });
    child.on('exit', (c) => reject(new Error(`exited early (${c})`)));
  });
}

test('python3 with 3 sleeping worker threads: 4 threads, workers in clock_nanosleep', async (t) => {
  const py = spawn('python3', ['-c', `
import threading, time, sys
for i in range(3): threading.Thread(target=time.sleep, args=(300,), daemon=True).start()
print("up", flush=True)
time.sleep(300)`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => py.kill('SIGKILL'));
  await started(py, 'up');
  const r = forkall(['threads', '-p', String(py.pid), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const report = JSON.parse(r.stdout);
  assert.equal(report.pid, py.pid);
  assert.equal(report.threads.length, 4);
  assert.equal(report.threads.length, taskCount(py.pid!));
  const sleeping = report.threads.filter((x: { syscall: string }) => /nanosleep/.test(x.syscall));
  assert.ok(sleeping.length >= 3, JSON.stringify(report.threads));
});

test('node with a worker_threads worker: every thread listed with its name', async (t) => {
  const node = spawn(process.execPath, ['-e', `
const { Worker } = require('node:worker_threads');
new Worker('setInterval(() => {}, 1000)', { eval: true });
setTimeout(() => console.log('up'), 300);
setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => node.kill('SIGKILL'));
  await started(node, 'up');
  const r = forkall(['threads', '-p', String(node.pid), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const { threads } = JSON.parse(r.stdout);
  assert.ok(threads.length >= 7, `only ${threads.length} threads`);
  assert.ok(threads.some((x: { name: string }) => x.name === 'node'));
  assert.ok(threads.every((x: { tid: number; state: string }) => x.tid > 0 && x.state.length > 0));
});

test('errors: each a one-line message and a distinct exit code', () => {
  const bad = forkall(['threads', '-p', 'abc']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /^forkall: -p expects a process ID/);
  const none = forkall(['threads', '-p', '4194304']);
  assert.equal(none.status, 4);
  assert.match(none.stderr, /no process with PID 4194304/);
  const kthread = forkall(['threads', '-p', '2']);
  assert.equal(kthread.status, 5);
  assert.match(kthread.stderr, /kernel thread/);
});
