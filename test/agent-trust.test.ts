// The agent keeps the trust promises (issue 8): a clone is reported only once
// it is whole; clones never outlive their template; FORKALL_* values are
// checked and the program's own descriptors are never written to.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { nativeArtifact, packageRoot } from '../src/native/paths.js';
import { spawnTemplate, type Template } from '../src/server/template.js';
import { statFields } from '../src/proc/tasks.js';
import { buildMixedThreads, untilReady } from './helpers/mixed-threads.js';

const agent = nativeArtifact('libforkall-agent.so');
let dir = '';
let mixed = '';
let removeFixture = (): void => {};

before(() => {
  ({ dir, binary: mixed, remove: removeFixture } = buildMixedThreads('forkall-agent-trust-'));
});
after(() => removeFixture());

const alive = (pid: number): boolean => {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'latin1'))[0] !== 'Z';
  } catch {
    return false;
  }
};
const tasks = (pid: number): number => readdirSync(`/proc/${pid}/task`).length;

/** Waits (generously) until none of pids is alive; returns those still alive. */
async function untilGone(pids: number[], ms = 30_000): Promise<number[]> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

function killAll(pids: number[]): void {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

/** A frozen template of mixed_threads (16 threads, 2 spinning); clones stay alive until killed. */
async function frozenMixed(): Promise<Template> {
  const t = await spawnTemplate(mixed, ['16', '2', 'stay'], { stdio: ['ignore', 'pipe', 'inherit'], timeoutMs: 60_000 });
  await untilReady(t);
  assert.equal(await t.requestSnapshot(), 17);
  return t;
}


test('a clone is reported only once it is whole: right after each reply the clone has all 17 threads (60 clones)', { timeout: 300_000 }, async () => {
  const t = await frozenMixed();
  const made: number[] = [];
  try {
    const short: string[] = [];
    for (let i = 0; i < 60; i++) {
      const c = await t.clone();
      made.push(c.pid);
      const n = tasks(c.pid); // at once, before anything else
      if (n !== 17) short.push(`clone ${c.pid}: ${n} tasks`);
      c.kill('SIGKILL');
      await c.exited;
    }
    assert.deepEqual(short, [], `clones reported before they were whole`);
  } finally {
    await t.close();
    killAll(made);
  }
});

test('SIGKILL of the template ends its live clones (the controller ends what it knows)', { timeout: 120_000 }, async () => {
  const t = await frozenMixed();
  const pids: number[] = [];
  try {
    for (let i = 0; i < 4; i++) pids.push((await t.clone()).pid);
    assert.ok(pids.every(alive));
    t.process.kill('SIGKILL');
    assert.deepEqual(await untilGone(pids), [], 'clones outlived their template');
  } finally {
    killAll(pids);
    await t.close();
  }
});

test('template and controller both SIGKILLed: the clones still end (each has a parent-death signal)', { timeout: 120_000 }, async () => {
  const script = `
    import('${join(packageRoot, 'src', 'server', 'template.ts')}').then(async ({ spawnTemplate }) => {
      const t = await spawnTemplate(${JSON.stringify(mixed)}, ['16', '2', 'stay'], { stdio: ['ignore', 'pipe', 'ignore'] });
      await new Promise((r) => { let o = ''; t.process.stdout.on('data', (d) => { o += d; if (o.includes('READY')) r(); }); });
      await t.requestSnapshot();
      const pids = [];
      for (let i = 0; i < 3; i++) pids.push((await t.clone()).pid);
      console.log('template', t.process.pid, 'clones', pids.join(','));
    });`;
  const ctl = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let template = 0;
  let clones: number[] = [];
  try {
    await new Promise<void>((resolve, reject) => {
      let out = '';
      ctl.stdout!.on('data', (d) => {
        out += d;
        const m = /template (\d+) clones ([\d,]+)/.exec(out);
        if (m) {
          template = Number(m[1]);
          clones = m[2].split(',').map(Number);
          resolve();
        }
      });
      ctl.on('exit', (c) => reject(new Error(`controller exited (${c}) before making clones`)));
    });
    assert.equal(clones.length, 3);
    ctl.kill('SIGKILL');
    process.kill(template, 'SIGKILL');
    assert.deepEqual(await untilGone(clones), [], 'clones outlived template and controller');
  } finally {
    if (ctl.exitCode === null) ctl.kill('SIGKILL');
    killAll([template, ...clones].filter(Boolean));
  }
});

/** Runs sh -c script under the agent with the given FORKALL_* and fd 3 set up by `fd3`. */
function underAgent(env: Record<string, string>, fd3: 'socket' | 'file' | 'none', script = 'echo program-ran') {
  const stdio: ('pipe' | 'ignore')[] = ['ignore', 'pipe', 'pipe'];
  const extra = fd3 === 'socket' ? ['pipe'] : [];
  const wrap = fd3 === 'file' ? `exec 3>${join(dir, 'fd3-file')}; ${script}` : script;
  return new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const p = spawn('sh', ['-c', wrap], {
      stdio: [...stdio, ...extra] as ('pipe' | 'ignore')[],
      env: { ...process.env, LD_PRELOAD: agent, ...env },
    });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (d) => (stdout += d));
    p.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
    p.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

for (const [name, value, why] of [
  ['FORKALL_AT', 'bogus', /FORKALL_AT=bogus: expected request, threads=N or delay=MS/],
  ['FORKALL_AT', 'threads=abc', /FORKALL_AT=threads=abc: threads=N needs a whole number/],
  ['FORKALL_AT', 'delay=5s', /FORKALL_AT=delay=5s: delay=MS needs a whole number/],
  ['FORKALL_EXACT_TIDS', 'yes', /FORKALL_EXACT_TIDS=yes: expected 0 or 1/],
] as const) {
  test(`${name}=${value} is rejected before the program runs: message on stderr, exit 121`, { timeout: 60_000 }, async () => {
    const r = await underAgent({ FORKALL_CONTROL_FD: '3', FORKALL_AT: 'request', [name]: value }, 'socket');
    assert.equal(r.code, 121, r.stderr);
    assert.match(r.stderr, why);
    assert.equal(r.stdout, '', 'the program ran');
  });
}

test('FORKALL_CONTROL_FD=1 is refused: no protocol bytes in the program\'s stdout, exit 121', { timeout: 60_000 }, async () => {
  const r = await underAgent({ FORKALL_CONTROL_FD: '1', FORKALL_AT: 'request' }, 'none');
  assert.equal(r.code, 121, r.stderr);
  assert.match(r.stderr, /FORKALL_CONTROL_FD=1: expected a descriptor number of 3 or more/);
  assert.ok(!r.stdout.includes('FKAL'), `protocol bytes in stdout: ${JSON.stringify(r.stdout)}`);
});

test('FORKALL_CONTROL_FD naming a file the program opened is refused, the file untouched, exit 121', { timeout: 60_000 }, async () => {
  // The shell opens fd 3 on a file, then runs a program under the agent that inherits it.
  const r = await underAgent({ FORKALL_CONTROL_FD: '3', FORKALL_AT: 'request' }, 'file', `exec 3>${join(dir, 'fd3-file')}; exec sh -c 'echo program-ran'`);
  assert.equal(r.code, 121, r.stderr);
  assert.match(r.stderr, /FORKALL_CONTROL_FD=3: this descriptor is not a unix stream socket/);
  assert.equal(readFileSync(join(dir, 'fd3-file'), 'latin1'), '', 'protocol bytes written into the program\'s file');
});

test('a control channel already at end of file: the program is ended with a message and exit 122, not a silent 0', { timeout: 60_000 }, async () => {
  const p = spawn('python3', ['-c', 'import time; time.sleep(30); print("program-ran")'], {
    stdio: ['ignore', 'pipe', 'pipe', 'pipe'],
    env: { ...process.env, LD_PRELOAD: agent, FORKALL_CONTROL_FD: '3', FORKALL_AT: 'request' },
  });
  let stderr = '';
  p.stderr!.on('data', (d) => (stderr += d));
  const ctl = p.stdio[3] as import('node:stream').Duplex;
  ctl.on('error', () => {});
  ctl.end(); // the controller's end closes at once
  ctl.destroy();
  const timer = setTimeout(() => p.kill('SIGKILL'), 30_000);
  const code = await new Promise<number | null>((r) => p.on('close', (c) => r(c)));
  clearTimeout(timer);
  assert.equal(code, 122, stderr);
  assert.match(stderr, /control channel closed .* before the snapshot/);
});

test('FORKALL_CONTROL_FD set but not open here (a subprocess that inherited only the variable): the agent stays off, the program runs', { timeout: 60_000 }, async () => {
  const r = await underAgent({ FORKALL_CONTROL_FD: '7', FORKALL_AT: 'request' }, 'none');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'program-ran');
});

