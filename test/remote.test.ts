// The remote engine on real programs nobody here wrote, its errors, and its
// promise to leave the original alone even when the CLI is killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, chmodSync, readdirSync, readFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cloneProcess } from '../src/index.js';
import { waitForExit } from '../src/remote/wait-exit.js';
import { packageRoot } from '../src/native/paths.js';
import { have, heldThreads, ourChildren, progress, sleep, startUntil, taskCount } from './helpers/programs.js';
import { waitFor } from './helpers/wait.js';
import { closedToOthers } from './helpers/closed-dir.js';
import { killAndWait } from './helpers/kill-wait.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const fixture = (f: string) => join(packageRoot, 'test', 'fixtures', f);
const outDir = () => {
  const d = mkdtempSync(join(tmpdir(), 'forkall-remote-'));
  chmodSync(d, 0o777);
  return d;
};


/** Clones `pid` with the Node API; the clone must have as many threads and every worker must keep counting in it. */
async function cloneAndWatch(pid: number, dir: string, workers: string[]) {
  const before = taskCount(pid);
  const [c] = await cloneProcess(pid);
  assert.ok(c, 'no clone reported');
  try {
    assert.equal(c.threads, before, 'threads recreated in the clone');
    assert.equal(taskCount(c.pid), before, `threads in /proc/${c.pid}/task`);
    let p = progress(dir, c.pid);
    await waitFor(`every worker of the clone ${c.pid} counting`, () => workers.every((w) => ((p = progress(dir, c.pid)).get(w) ?? 0) >= 3)).catch(() => undefined);
    for (const w of workers) assert.ok((p.get(w) ?? 0) >= 3, `${w} in the clone ${c.pid} did not keep counting: ${JSON.stringify([...p])}`);
    assert.deepEqual(heldThreads(pid), [], 'threads of the original left stopped or traced');
    const o = progress(dir, pid);
    let o2 = o;
    await waitFor('every worker of the original counting on', () => workers.every((w) => ((o2 = progress(dir, pid)).get(w) ?? 0) > (o.get(w) ?? 0))).catch(() => undefined);
    for (const w of workers) assert.ok((o2.get(w) ?? 0) > (o.get(w) ?? 0), `${w} in the original stopped counting`);
  } finally {
    await killAndWait(c.pid);
  }
}

test('python3 with threading workers: the clone has every thread and they keep counting', { timeout: 60_000 }, async () => {
  const dir = outDir();
  const p = await startUntil('python3', [fixture('py_counters.py')], { FORKALL_OUT: dir });
  try {
    await cloneAndWatch(p.pid!, dir, ['w0', 'w1', 'w2']);
  } finally {
    await killAndWait(p.pid!);
  }
});

test('python3 with --exact-tids: the clone has the same PID and TIDs in its own namespace, its workers keep running, its init reports its end', { timeout: 60_000 }, async () => {
  const dir = outDir();
  const target = await startUntil('python3', [fixture('py_counters.py')], { FORKALL_OUT: dir });
  const pid = target.pid!;
  let init = 0;
  try {
    const tids = readdirSync(`/proc/${pid}/task`).map(Number).sort();
    const [c] = await cloneProcess(pid, { exactTids: true });
    init = c!.pid;
    const child = c!.childPid!;
    assert.ok(child > 0 && child !== pid && init !== pid);
    const inner = (tid: number) => Number(/^NSpid:.*\s(\d+)\s*$/m.exec(readFileSync(`/proc/${child}/task/${tid}/status`, 'utf8'))![1]);
    assert.deepEqual(readdirSync(`/proc/${child}/task`).map(Number).map(inner).sort(), tids, 'TIDs inside the clone');
    // the clone appends to the same <pid>.log as the original: the file grows faster than the original alone can
    const lines = () => readFileSync(join(dir, `${pid}.log`), 'utf8').split('\n').length;
    const before = lines();
    process.kill(pid, 'SIGSTOP');
    let grown = 0;
    try {
      await waitFor('the clone\'s workers to write while the original is stopped', () => (grown = lines() - before) >= 6).catch(() => undefined);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    assert.ok(grown >= 6, `the clone's workers wrote only ${grown} lines while the original was stopped`);
    assert.deepEqual(heldThreads(pid), []);
    process.kill(child, 'SIGTERM');
    assert.deepEqual(await waitForExit(init), { exitCode: 128 + 15, signal: null }, 'the init exits with the clone\'s status');
    init = 0;
  } finally {
    await killAndWait(pid, ...(init ? [init] : []));
  }
});

test('node with an interval timer and a worker_threads worker: both keep ticking in the clone', { timeout: 60_000 }, async () => {
  const dir = outDir();
  const p = await startUntil(process.execPath, [fixture('node_workers.mjs')], { FORKALL_OUT: dir });
  try {
    await cloneAndWatch(p.pid!, dir, ['main', 'worker']);
  } finally {
    await killAndWait(p.pid!);
  }
});

test('java (OpenJDK) with four threads: the clone has every JVM thread and the workers keep writing', { skip: have('java') ? false : 'java is not installed', timeout: 120_000 }, async () => {
  const dir = outDir();
  const p = await startUntil('java', ['-Xmx64m', fixture('JavaWorkers.java')], { FORKALL_OUT: dir }, 'READY', 90_000);
  try {
    await cloneAndWatch(p.pid!, dir, ['worker0', 'worker1', 'worker2', 'worker3']);
  } finally {
    await killAndWait(p.pid!);
  }
});

/** Waits (generously: a loaded machine) until the server on `port` answers `probe` with `reply`. */
async function untilServing(name: string, port: number, probe: string, reply: RegExp): Promise<void> {
  const up = await waitFor(`${name} on port ${port}`, () => tcpRequest(port, probe, reply).then(() => true, () => false), undefined, 50).catch(() => false);
  if (!up) assert.fail(`${name} did not start on port ${port}`);
}

/** Sends `text` to 127.0.0.1:`port` and resolves with what came back once it matches `until`. */
function tcpRequest(port: number, text: string, until: RegExp): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`port ${port} did not answer ${JSON.stringify(text)} (got ${JSON.stringify(got)})`));
    }, 30_000); // only bounds a hang
    s.on('data', (d) => {
      got += d;
      if (until.test(got)) {
        clearTimeout(timer);
        s.end();
        resolve(got);
      }
    });
    s.on('error', reject);
    s.write(text);
  });
}

test('memcached -t 4: a --stopped clone, continued after the original is killed, serves a key set before the clone', { skip: have('memcached') ? false : 'memcached is not installed', timeout: 60_000 }, async () => {
  const port = 20000 + (process.pid % 20000);
  const m = spawn('memcached', ['-t', '4', '-p', String(port), '-U', '0', '-l', '127.0.0.1', '-u', 'nobody'], { stdio: 'ignore' });
  let clonePid = 0;
  try {
    await untilServing('memcached', port, 'version\r\n', /VERSION/);
    assert.match(await tcpRequest(port, 'set forkall 0 0 5\r\nhello\r\n', /STORED/), /STORED/);
    const threads = taskCount(m.pid!);
    const r = spawnSync(process.execPath, [cli, 'clone', '-p', String(m.pid), '--stopped', '--json'], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const report = JSON.parse(r.stdout);
    clonePid = report.clones[0].pid;
    assert.equal(report.clones[0].threads, threads);
    assert.match(spawnSync('ps', ['-o', 'stat=', '-p', String(clonePid)], { encoding: 'utf8' }).stdout, /T/, 'the clone is stopped');
    m.kill('SIGKILL');
    await waitForExit(m.pid!);
    process.kill(clonePid, 'SIGCONT');
    assert.match(await tcpRequest(port, 'get forkall\r\n', /END/), /VALUE forkall 0 5\r\nhello/);
    assert.equal(taskCount(clonePid), threads, 'threads in the continued clone');
  } finally {
    await killAndWait(m.pid!, ...(clonePid ? [clonePid] : []));
  }
});

test('redis-server: a live clone keeps its background threads and, once the original is killed, serves a key set before the clone', { skip: have('redis-server') ? false : 'redis-server is not installed', timeout: 60_000 }, async () => {
  const port = 40000 + (process.pid % 20000);
  const dir = outDir();
  const r0 = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir], { stdio: 'ignore' });
  let clonePid = 0;
  try {
    await untilServing('redis-server', port, 'PING\r\n', /PONG/);
    assert.match(await tcpRequest(port, 'SET forkall hello\r\n', /\+OK/), /\+OK/);
    const threads = taskCount(r0.pid!);
    assert.ok(threads >= 4, `redis-server has only ${threads} threads`);
    const [c] = await cloneProcess(r0.pid!);
    clonePid = c!.pid;
    assert.equal(c!.threads, threads);
    assert.equal(taskCount(clonePid), threads, 'threads in the running clone');
    assert.deepEqual(heldThreads(r0.pid!), [], 'the original was left stopped or traced');
    r0.kill('SIGKILL');
    await waitForExit(r0.pid!);
    assert.match(await tcpRequest(port, 'GET forkall\r\n', /hello/), /\$5\r\nhello/);
    assert.match(await tcpRequest(port, 'SET after clone\r\n', /\+OK/), /\+OK/);
    assert.equal(taskCount(clonePid), threads, 'threads in the clone after it served');
  } finally {
    await killAndWait(r0.pid!, ...(clonePid ? [clonePid] : []));
  }
});

test('forkall clone -p: errors name the PID, with distinct exit codes, and leave the target untouched', { timeout: 60_000 }, async (t) => {
  const run = (args: string[], opts: { uid?: number } = {}) => {
    const cmd = opts.uid === undefined ? process.execPath : 'setpriv';
    const pre = opts.uid === undefined ? [] : [`--reuid=${opts.uid}`, `--regid=${opts.uid}`, '--clear-groups', '--inh-caps=-all', process.execPath];
    return spawnSync(cmd, [...pre, cli, 'clone', ...args], { encoding: 'utf8' });
  };
  let r = run(['-p', 'abc']);
  assert.equal(r.status, 2, r.stderr);
  assert.match(r.stderr, /-p expects a process ID/);
  r = run(['-p', '999999999']);
  assert.equal(r.status, 4, r.stderr);
  assert.match(r.stderr, /no process with PID 999999999/);
  r = run(['-p', '2']);
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /PID 2 is a kernel thread/);
  r = spawnSync('sh', ['-c', `exec "${process.execPath}" "${cli}" clone -p $$`], { encoding: 'utf8' });
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, /is the forkall command itself/);

  // a zombie: the child of a process that never reaps
  const z = spawn('sh', ['-c', 'sleep 0 & exec sleep 30'], { stdio: 'ignore' });
  const zombie = await waitFor('the never-reaped child to be a zombie', () => {
    const c = Number(readFileSync(`/proc/${z.pid}/task/${z.pid}/children`, 'utf8').trim());
    return c > 0 && /\) Z /.test(readFileSync(`/proc/${c}/stat`, 'utf8')) ? c : 0;
  });
  r = run(['-p', String(zombie)]);
  assert.equal(r.status, 5, r.stderr);
  assert.match(r.stderr, new RegExp(`PID ${zombie} is a zombie`));
  z.kill('SIGKILL');

  // a live process whose main thread called pthread_exit: its leader shows as a zombie
  const orphaned = await startUntil('python3', ['-c', [
    'import ctypes, threading, time',
    'threading.Thread(target=time.sleep, args=(60,)).start()',
    'print("READY", flush=True)',
    'ctypes.CDLL(None).pthread_exit(None)',
  ].join('\n')], {});
  try {
    await waitFor('the leader to show as a zombie', () => /\) Z /.test(readFileSync(`/proc/${orphaned.pid}/stat`, 'utf8')));
    r = run(['-p', String(orphaned.pid)]);
    assert.equal(r.status, 5, r.stderr);
    assert.match(r.stderr, new RegExp(`PID ${orphaned.pid}: its main thread has exited \\(pthread_exit\\) while 1 other thread\\(s\\) run`));
    assert.equal(taskCount(orphaned.pid!), 2, 'the process was left as it was');
  } finally {
    await killAndWait(orphaned.pid!);
  }

  const target = await startUntil('python3', [fixture('py_counters.py')], { FORKALL_OUT: outDir() });
  try {
    // already traced
    const tracer = spawn('strace', ['-p', String(target.pid), '-o', '/dev/null'], { stdio: 'ignore' });
    await waitFor('strace to attach', () => heldThreads(target.pid!).length > 0);
    r = run(['-p', String(target.pid)]);
    assert.equal(r.status, 6, r.stderr);
    assert.match(r.stderr, new RegExp(`PID ${target.pid} is already traced by PID ${tracer.pid} \\(strace\\)`));
    tracer.kill('SIGINT');
    await new Promise((res) => tracer.on('exit', res));
    await waitFor('strace to let go', () => heldThreads(target.pid!).length === 0);
    // ptrace denied: an unprivileged user may not trace root's process
    const closed = closedToOthers();
    if (process.getuid?.() === 0 && closed) t.diagnostic(`the ptrace-denied check is not run: nobody cannot run forkall from this checkout (${closed} is closed to other users)`);
    if (process.getuid?.() === 0 && !closed) {
      r = run(['-p', String(target.pid)], { uid: 65534 });
      assert.equal(r.status, 7, r.stderr);
      assert.match(r.stderr, new RegExp(`ptrace denied for PID ${target.pid}.*uid 0/0/0/0 and you are uid 65534`));
    }
    assert.deepEqual(heldThreads(target.pid!), []);
    assert.equal(r.stdout, '');
  } finally {
    await killAndWait(target.pid!);
  }
});

test('a SIGKILLed forkall clone -p (the engine runs on its own thread) never leaves the original stopped, traced or broken', { timeout: 300_000 }, async (t) => {
  const seed = process.env.FORKALL_TEST_SEED ? Number(process.env.FORKALL_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);
  t.diagnostic(`seed ${seed} (replay with FORKALL_TEST_SEED=${seed})`);
  let state = seed >>> 0;
  const random = () => ((state = (Math.imul(state, 1103515245) + 12345) >>> 0) / 2 ** 32);
  const dir = outDir();
  const target = await startUntil('python3', [fixture('py_counters.py')], { FORKALL_OUT: dir });
  const pid = target.pid!;
  const log: string[] = [];
  try {
    for (let i = 0; i < 12; i++) {
      const delay = Math.floor(random() * 500);
      const c = spawn(process.execPath, [cli, 'clone', '-p', String(pid)], { stdio: 'ignore' });
      const exited = new Promise((res) => c.once('exit', res));
      await sleep(delay);
      try {
        process.kill(c.pid!, 'SIGKILL'); // nothing to do when it already finished
      } catch {
        // gone
      }
      log.push(`${i}: CLI ${c.pid} killed at ${delay} ms`);
      await exited;
      // the kernel lets the threads go when their tracer dies; give it a moment to show
      let held = heldThreads(pid);
      for (let k = 0; k < 1500 && held.length; k++) {
        await sleep(20);
        held = heldThreads(pid);
      }
      assert.deepEqual(held, [], `after ${log.at(-1)} (seed ${seed}; ${log.join('; ')})`);
    }
    // every worker of the original keeps counting (waited for, not a fixed window)
    const a = progress(dir, pid);
    let b = a;
    for (let k = 0; k < 1500 && ['w0', 'w1', 'w2'].some((w) => (b.get(w) ?? 0) <= (a.get(w) ?? 0)); k++) {
      await sleep(20);
      b = progress(dir, pid);
    }
    for (const w of ['w0', 'w1', 'w2']) assert.ok((b.get(w) ?? 0) > (a.get(w) ?? 0), `${w} of the original stopped counting (seed ${seed}; ${log.join('; ')})`);
  } finally {
    await sleep(500); // let a clone made just before a kill show up among our children
    await killAndWait(...ourChildren().filter((p) => p !== pid), pid);
  }
});
