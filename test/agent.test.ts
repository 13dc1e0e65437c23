// The agent's snapshot server on a real program (python3 with worker threads),
// through the TypeScript client and through `forkall run`; the control
// channel's robustness; the agent doing nothing when not configured.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { statFields } from '../src/proc/tasks.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeArtifact, packageRoot } from '../src/native/paths.js';
import { spawnTemplate } from '../src/server/template.js';
import { MessageReader } from '../src/server/protocol.js';
import { waitFor } from './helpers/wait.js';

const app = join(packageRoot, 'test', 'fixtures', 'py_workers.py');
const cli = join(packageRoot, 'bin', 'forkall.js');
const gone = async (pid: number) => {
  await waitFor(`process ${pid} to go away`, () => !existsSync(`/proc/${pid}`) || /\) [ZX] /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))).catch(() => undefined);
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'))[0] === 'Z';
  } catch {
    return true; // gone
  }
};

test('python3 frozen at threads=4: three clones alive at once, each with exactly the program\'s 4 threads, workers working, each exits 0', async () => {
  const t = await spawnTemplate('python3', [app], { at: { threads: 4 }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  t.process.stdout!.on('data', (d) => (out += d));
  try {
    assert.equal(await t.frozenState(), 4);
    const clones = await Promise.all([t.clone(), t.clone(), t.clone()]);
    assert.equal(new Set(clones.map((c) => c.pid)).size, 3);
    for (const c of clones) {
      assert.equal(c.threads, 4);
      assert.deepEqual(await c.exited, { exitCode: 0, signal: null, status: 0 });
    }
    // a clone's output travels through the shared stdout pipe, its exit report through the control socket:
    // give the pipe a moment to catch up
    await waitFor('every clone\'s line on the shared stdout pipe', () => clones.every((c) => out.includes(`clone ${c.pid} `)));
    for (const c of clones) assert.match(out, new RegExp(`clone ${c.pid} threads=4 results=\\[2, 4, 6\\]`));
  } finally {
    await t.close();
  }
  assert.ok(await gone(t.process.pid!), 'template still running after close');
});

test('twelve clones requested at once: the agent forks them without waiting for each to be whole; each is reported once, whole, and ends with its own exit', async () => {
  const t = await spawnTemplate('python3', [app], { at: { threads: 4 }, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  t.process.stdout!.on('data', (d) => (out += d));
  try {
    assert.equal(await t.frozenState(), 4);
    const clones = await Promise.all(Array.from({ length: 12 }, () => t.clone()));
    assert.equal(new Set(clones.map((c) => c.pid)).size, 12, 'twelve distinct clones');
    for (const c of clones) {
      assert.equal(c.threads, 4);
      assert.deepEqual(await c.exited, { exitCode: 0, signal: null, status: 0 });
    }
    await waitFor('every clone\'s line on the shared stdout pipe', () => clones.every((c) => out.includes(`clone ${c.pid} `)));
    for (const c of clones) assert.match(out, new RegExp(`clone ${c.pid} threads=4 results=\\[2, 4, 6\\]`));
    assert.deepEqual(t.liveClones, []);
  } finally {
    await t.close();
  }
  assert.ok(await gone(t.process.pid!), 'template still running after close');
});

/** Rss in kB of the process's libc code mapping (r-xp), from /proc/PID/smaps; also whether it holds anonymous pages. */
function libcCode(pid: number): { rssKb: number; anonKb: number } {
  const smaps = readFileSync(`/proc/${pid}/smaps`, 'utf8');
  const at = smaps.split('\n').findIndex((l) => / r-xp .*\/libc[.-][^/]*$/.test(l));
  assert.ok(at >= 0, `no libc code mapping in /proc/${pid}/smaps`);
  const lines = smaps.split('\n').slice(at + 1, at + 30);
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`).exec(lines.find((l) => l.startsWith(`${key}:`)) ?? '')?.[1] ?? NaN);
  return { rssKb: kb('Rss'), anonKb: kb('Anonymous') };
}

for (const prefault of [true, false])
  test(`FORKALL_PREFAULT=${prefault ? 1 : 0}: a clone ${prefault ? 'starts with' : 'does not inherit'} the template's page-table entries for libc's code`, async () => {
    // a program that sleeps: a clone runs almost no code of its own before we look
    const t = await spawnTemplate('sleep', ['600'], {
      at: { delayMs: 300 },
      stdio: 'ignore',
      env: { ...process.env, FORKALL_PREFAULT: prefault ? '1' : '0' },
    });
    try {
      await t.frozenState();
      const tpl = libcCode(t.pid);
      // the byte written back through /proc/self/mem: one private page in the mapping
      assert.equal(tpl.anonKb, prefault ? 4 : 0, 'anonymous kB in the template\'s libc code mapping');
      const c = await t.clone();
      try {
        const clone = libcCode(c.pid);
        if (prefault) assert.ok(clone.rssKb >= tpl.rssKb, `clone maps ${clone.rssKb} kB of libc code, the template ${tpl.rssKb} kB`);
        else assert.ok(clone.rssKb < tpl.rssKb / 2, `clone maps ${clone.rssKb} kB of libc code, the template ${tpl.rssKb} kB`);
      } finally {
        c.kill('SIGKILL');
        await c.exited;
      }
    } finally {
      await t.close();
    }
  });

test('a clone killed through the client reports its signal; a failing clone its exit code', async () => {
  const t = await spawnTemplate('python3', ['-c', 'import os,time\np=os.getpid()\nwhile os.getpid()==p: time.sleep(0.02)\ntime.sleep(30)'], {
    at: { delayMs: 300 },
    stdio: 'ignore',
  });
  try {
    await t.frozenState();
    const c = await t.clone();
    c.kill('SIGTERM');
    const r = await c.exited;
    assert.equal(r.signal, 'SIGTERM');
  } finally {
    await t.close();
  }
});

test('garbage on the control channel: an error reply, then the template exits (never hangs)', async () => {
  const p = spawn('python3', ['-c', 'import time; time.sleep(60)'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, LD_PRELOAD: nativeArtifact('libforkall-agent.so'), FORKALL_CONTROL_FD: '3', FORKALL_AT: 'delay=100000' },
  });
  const ctl = p.stdio[3] as import('node:stream').Duplex;
  const reader = new MessageReader();
  const seen: string[] = [];
  const exited = new Promise<void>((r) => p.on('exit', () => r()));
  let helloCount = 0;
  ctl.on('data', (d: Buffer) => {
    for (const m of reader.push(d)) {
      seen.push(m.type);
      if (m.type === 'hello' && ++helloCount === 1) setTimeout(() => ctl.write(Buffer.from('this is not a forkall message')), 300);
    }
  });
  ctl.on('error', () => {});
  const timer = setTimeout(() => p.kill('SIGKILL'), 60_000); // only bounds a hang
  await exited;
  clearTimeout(timer);
  assert.ok(seen.includes('error'), `no error reply: ${seen.join(',')}`);
  assert.equal(p.signalCode, null, 'the template was killed by the test timeout: it hung');
});

test('a controller that dies takes the frozen template with it', async () => {
  const script = `
    import('${join(packageRoot, 'src', 'server', 'template.ts')}').then(async ({ spawnTemplate }) => {
      const t = await spawnTemplate('python3', ['-c', 'import time; time.sleep(60)'], { at: { delayMs: 100 }, stdio: 'ignore' });
      await t.frozenState();
      console.log('template', t.process.pid);
    });`;
  const ctl = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  const pid = await new Promise<number>((resolve) => {
    let out = '';
    ctl.stdout!.on('data', (d) => {
      out += d;
      const m = /template (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
  });
  ctl.kill('SIGKILL');
  assert.ok(await gone(pid), `template ${pid} outlived its controller`);
});

test('forkall run --json reports the snapshot and every clone', () => {
  const r = spawnSync(process.execPath, [cli, 'run', '--at', 'threads=4', '-n', '2', '--json', '--', 'python3', app], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  const json = r.stdout.trim().split('\n').filter((l) => l.startsWith('{"event":"done"')).pop()!;
  const report = JSON.parse(json);
  assert.equal(report.threads, 4);
  assert.equal(report.clones.length, 2);
  for (const c of report.clones) assert.deepEqual([c.threads, c.exitCode], [4, 0]);
});

test('preloaded without FORKALL_* the agent does nothing: no extra thread', () => {
  const r = spawnSync('python3', ['-c', 'import os; print(len(os.listdir("/proc/self/task")))'], {
    encoding: 'utf8',
    env: { ...process.env, LD_PRELOAD: nativeArtifact('libforkall-agent.so') },
  });
  assert.equal(r.stdout.trim(), '1');
});


for (const exact of [false, true]) {
  test(`forkall_snapshot() opt-in, ${exact ? 'exact TIDs: PID and every TID kept' : 'new TIDs'}; the clone's main thread is its leader`, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'forkall-snap-'));
    const bin = join(dir, 'snapshot_point');
    const cc = spawnSync('gcc', ['-pthread', '-o', bin, join(packageRoot, 'test', 'fixtures', 'snapshot_point.c')], { encoding: 'utf8' });
    assert.equal(cc.status, 0, cc.stderr);
    const r = spawnSync(process.execPath, [cli, 'run', '--at', 'delay=600000', '-n', '2', ...(exact ? ['--exact-tids'] : []), '--', bin], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.split('\n').filter((l) => l.startsWith('snapshot='));
    assert.equal(lines.length, 2, r.stdout);
    const kept = exact ? 1 : 0;
    for (const l of lines)
      assert.equal(l, `snapshot=1 pid_kept=${kept} main_tid_kept=${kept} worker_tid_kept=${kept} leader=1 tasks=2`);
  });
}

/** Why compaction cannot be checked on this machine (the kernel refused MADV_COLLAPSE), for a printed skip. */
const noCollapse = (): string => {
  let thp = 'unknown';
  try {
    thp = readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8').trim();
  } catch {
    thp = 'not available';
  }
  return `the kernel refused MADV_COLLAPSE (transparent_hugepage: ${thp}): compaction cannot be checked here`;
};

test('--compact: the frozen template is collapsed into huge pages and its clones still work', async (tc) => {
  const t = await spawnTemplate(nativeArtifact(join('bin', 'forkall-target')), ['4', '64', 'agent'], {
    at: { delayMs: 600_000 },
    compact: true,
    stdio: 'ignore',
  });
  try {
    assert.equal(await t.frozenState(), 4);
    for (let i = 0; i < 3; i++) {
      const c = await t.clone();
      assert.deepEqual(await c.exited, { exitCode: 0, signal: null, status: 0 });
    }
    if (t.compactedMb === null) return void tc.skip(noCollapse()); // the clones ran; the collapse itself is not shown
    assert.ok(t.compactedMb >= 32, `collapsed ${t.compactedMb} MB of 64`);
  } finally {
    await t.close();
  }
});

test('--compact: a clone\'s first write to the collapsed memory copies a small page, not a 2 MB huge page', async (tc) => {
  const t = await spawnTemplate(nativeArtifact(join('bin', 'forkall-target')), ['2', '64', 'probe'], {
    at: { delayMs: 600_000 },
    compact: true,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  t.process.stdout!.on('data', (d) => (out += d));
  try {
    await t.frozenState();
    if (t.compactedMb === null) return void tc.skip(noCollapse()); // nothing collapsed: nothing to measure
    const c = await t.clone();
    assert.equal((await c.exited).exitCode, 0);
    // the clone's report travels through the shared stdout pipe: wait for its line
    await waitFor('the probe clone\'s report on stdout', () => out.includes('\n'));
    const m = /private_dirty_kb=(\d+) anon_huge_kb=(\d+)/.exec(out);
    assert.ok(m, out);
    assert.ok(Number(m[1]) <= 64, `the clone owns ${m[1]} kB after one write`);
    assert.ok(Number(m[2]) >= 32 * 1024, `only ${m[2]} kB still in huge pages`);
  } finally {
    await t.close();
  }
});

const echoApp = `
import sys, threading, time
def echo():
    for line in sys.stdin:
        print("echo " + line.strip(), flush=True)
    print("eof", flush=True)
    sys.stderr.write("bye\\n")
threading.Thread(target=echo).start()
time.sleep(0.2)
`;

const collect = (s: NodeJS.ReadableStream) => {
  let text = '';
  s.on('data', (d) => (text += d));
  return new Promise<string>((resolve) => s.on('end', () => resolve(text)));
};

test('per-clone stdio: a thread blocked in read(0) at the snapshot reads each clone\'s own pipe; output never mixes', async () => {
  // The interpreter itself, not a wrapper on PATH (pyenv's python3 is a shell script that
  // execs it): frozen on the event (its echo thread exists), not after a fixed delay, which
  // under load fired inside the wrapper before the exec and cloned a shell (exit 127).
  const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim();
  const t = await spawnTemplate(python, ['-c', echoApp], { at: { threads: 2 }, stdio: ['pipe', 'ignore', 'ignore'] });
  try {
    await t.frozenState();
    const clones = await Promise.all([0, 1, 2].map(() => t.clone({ stdio: 'pipe' })));
    const outs = clones.map((c, i) => {
      const out = collect(c.stdout!);
      const err = collect(c.stderr!);
      c.stdin!.end(`clone ${i} line a\nclone ${i} line b\n`);
      return Promise.all([out, err]);
    });
    for (const [i, c] of clones.entries()) {
      assert.deepEqual(await c.exited, { exitCode: 0, signal: null, status: 0 });
      assert.deepEqual(await outs[i], [`echo clone ${i} line a\necho clone ${i} line b\neof\n`, 'bye\n']);
    }
    const quiet = await t.clone({ stdio: ['ignore', 'pipe', 'inherit'] }); // stdin at EOF at once
    assert.equal(quiet.stdin, null);
    assert.equal(await collect(quiet.stdout!), 'eof\n');
    assert.equal((await quiet.exited).exitCode, 0);
  } finally {
    await t.close();
  }
});

test('CLONE_STDIO whose mask does not match the descriptors sent: an error naming the request; the template serves on', async () => {
  const { sendWithFds, makePipe } = await import('../src/server/fd-passing.js');
  const { cloneStdioRequest, cloneRequest } = await import('../src/server/protocol.js');
  const p = spawn('python3', ['-c', 'import time; time.sleep(60)'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
    env: { ...process.env, LD_PRELOAD: nativeArtifact('libforkall-agent.so'), FORKALL_CONTROL_FD: '3', FORKALL_AT: 'delay=100' },
  });
  const ctl = p.stdio[3] as import('node:net').Socket;
  const reader = new MessageReader();
  const seen: import('../src/server/protocol.js').AgentMessage[] = [];
  ctl.on('data', (d: Buffer) => seen.push(...reader.push(d)));
  ctl.on('error', () => {});
  const until = async (what: (m: (typeof seen)[number]) => boolean) => {
    await waitFor('a control message', () => seen.some(what)).catch(() => undefined); // the assertion below names it
    return seen.find(what);
  };
  try {
    assert.ok(await until((m) => m.type === 'snapshot'), 'no snapshot');
    const [r, w] = makePipe();
    sendWithFds((ctl as unknown as { _handle: { fd: number } })._handle.fd, cloneStdioRequest(7, 0b011), [r]);
    closeSync(r);
    closeSync(w);
    const err = await until((m) => m.type === 'error');
    assert.ok(err && err.type === 'error' && err.request === 7 && err.errno === 22, JSON.stringify(seen));
    ctl.write(cloneRequest(8));
    const ok = await until((m) => m.type === 'cloned');
    assert.ok(ok && ok.type === 'cloned' && ok.request === 8, JSON.stringify(seen));
  } finally {
    const clone = seen.find((m) => m.type === 'cloned');
    if (clone?.type === 'cloned') process.kill(clone.pid, 'SIGKILL'); // the template's child: not ours to reap
    p.kill('SIGKILL');
    await new Promise((r) => p.once('exit', r));
  }
});

test('forkall run --serve: snapshot -p freezes it, clone -p asks its agent for clones, Ctrl-C ends template and clones', async () => {
  const run = spawn(process.execPath, [cli, 'run', '--at', 'request', '--serve', '--json', '--', 'python3', app], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  let out = '';
  run.stdout!.on('data', (d) => {
    out += d;
    for (let nl = out.indexOf('\n'); nl >= 0; nl = out.indexOf('\n')) {
      const line = out.slice(0, nl);
      out = out.slice(nl + 1);
      if (line.startsWith('{')) events.push(JSON.parse(line));
    }
  });
  const runExit = new Promise<number | null>((r) => run.once('exit', (c) => r(c)));
  const event = async (name: string, match: (e: Record<string, unknown>) => boolean = () => true) => {
    const e = await waitFor(`a ${name} event`, () => events.find((x) => x.event === name && match(x))).catch(() => undefined);
    return e ?? assert.fail(`no ${name} event: ${JSON.stringify(events)}`);
  };
  const forkall = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 60_000 });
  let template = 0;
  const clones: number[] = [];
  try {
    const serving = await event('serving');
    template = serving.templatePid as number;
    assert.ok(existsSync(serving.socket as string));
    const early = forkall(['clone', '-p', String(template)]);
    assert.equal(early.status, 8, early.stderr);
    assert.match(early.stderr, /not frozen yet/);
    // the program starts its three threads after the agent serves: freeze it once they exist
    const ownThreads = () => readdirSync(`/proc/${template}/task`).filter((t) => readFileSync(`/proc/${template}/task/${t}/comm`, 'utf8').trim() !== 'forkall-agent');
    await waitFor('the served program to have its 4 threads (the agent\'s own thread not counted)', () => ownThreads().length === 4);
    const snap = forkall(['snapshot', '-p', String(template), '--json']);
    assert.equal(snap.status, 0, snap.stderr);
    assert.deepEqual(JSON.parse(snap.stdout), { pid: template, threads: 4 });
    const c = forkall(['clone', '-p', String(template), '-n', '2', '--json']);
    assert.equal(c.status, 0, c.stderr);
    const report = JSON.parse(c.stdout);
    assert.equal(report.via, 'agent');
    clones.push(...report.clones.map((x: { pid: number }) => x.pid));
    assert.equal(clones.length, 2);
    for (const p of clones) {
      assert.equal(report.clones.find((x: { pid: number }) => x.pid === p).threads, 4);
      await event('cloned', (e) => e.pid === p);
      // each clone runs the workers and ends by itself (py_workers.py); the server reports how
      const ended = await event('exited', (e) => e.pid === p);
      assert.equal(ended.exitCode, 0, JSON.stringify(ended));
    }
    const stopped = forkall(['clone', '-p', String(template), '--stopped']);
    assert.equal(stopped.status, 2, stopped.stderr);
    const notServed = forkall(['snapshot', '-p', String(process.pid)]);
    assert.equal(notServed.status, 5, notServed.stderr);
    run.kill('SIGINT');
    assert.equal(await runExit, 0);
    assert.ok(await gone(template), `template ${template} outlived forkall run --serve`);
    assert.ok(!existsSync(serving.socket as string), 'socket left behind');
  } finally {
    if (run.exitCode === null) run.kill('SIGKILL');
    for (const p of clones) assert.ok(await gone(p), `clone ${p} left running`);
  }
});
