// Clones made by the agent run beside each other: private event objects
// (epoll, eventfd, timerfd, signalfd, self-pipes, socketpairs), servers in
// python3 and Go answering on fresh connections from two live clones, node's
// refusal naming a command that works, and `forkall run` reporting as it goes.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get as httpGet } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { nativeArtifact, packageRoot } from '../src/native/paths.js';
import { spawnTemplate, type Template } from '../src/server/template.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const fixtures = join(packageRoot, 'test', 'fixtures');
const work = mkdtempSync(join(tmpdir(), 'forkall-agent-servers-'));
after(() => rmSync(work, { recursive: true, force: true }));

function build(name: string, args: string[]): string {
  const bin = join(work, name);
  const r = spawnSync('gcc', ['-D_GNU_SOURCE', '-pthread', '-o', bin, join(fixtures, 'event_objects.c'), ...args], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return bin;
}

const eventObjects = (() => {
  let agent: string | undefined, call: string | undefined;
  return {
    agent: () => (agent ??= build('event_objects_agent', [])),
    call: () => {
      const lib = join(packageRoot, 'native', 'build', 'glibc');
      return (call ??= build('event_objects_call', ['-Wl,--no-as-needed', `-L${lib}`, `-Wl,-rpath,${lib}`, '-lforkall']));
    },
  };
})();

async function collect(t: Template): Promise<() => string> {
  let out = '';
  t.process.stdout!.on('data', (d) => (out += d));
  return () => out;
}

for (const shared of [false, true]) {
  test(`agent, ${shared ? '--shared-fds (fork sharing)' : 'default'}: a second clone ${shared ? 'sees' : 'does not see'} what the first did to each event object`, async () => {
    const t = await spawnTemplate(eventObjects.agent(), [], {
      at: { delayMs: 600_000 },
      stdio: ['ignore', 'pipe', 'inherit'],
      sharedFds: shared,
      timeoutMs: 60_000,
      env: { ...process.env, EVENT_OBJECTS_DIR: work },
    });
    const out = await collect(t);
    try {
      assert.equal(await t.frozenState(), 2); // main + worker; frozen at its forkall_snapshot()
      const first = await t.clone();
      assert.deepEqual(await first.exited, { exitCode: 0, signal: null, status: 0 }, out());
      const second = await t.clone();
      const r = await second.exited;
      if (!shared) {
        assert.deepEqual(r, { exitCode: 0, signal: null, status: 0 }, out());
        // nothing left shared (root: inotify watches are reopened by file handle); the first clone's
        // files are events queued in the template's inotify instance, which a copy does not carry
        assert.deepEqual(second.notCopied.filter((x) => !(x.kind === 'inotify' && x.effect === 'approximate' && /queued/.test(x.reason))), []);
      } else {
        assert.equal(r.exitCode, 1, out());
        for (const what of ['eventfd: read 0', "pipe: read '!'", "socketpair: read ''", 'outer epoll: 0 events', 'signalfd: mask', 'inotify: '])
          assert.ok(out().includes(`FAIL ${second.pid}: ${what}`), `expected "${what}" for ${second.pid} in:\n${out()}`);
      }
    } finally {
      await t.close();
    }
  });
}

test('C call: forkall_ex(FORKALL_PRIVATE_FDS) gives the child its own objects and the parent keeps its own; plain forkall() shares them', () => {
  const bin = eventObjects.call();
  const env = { ...process.env, EVENT_OBJECTS_DIR: work };
  const priv = spawnSync(bin, ['call'], { encoding: 'utf8', timeout: 60_000, env });
  assert.equal(priv.status, 0, priv.stdout + priv.stderr);
  assert.equal((priv.stdout.match(/^checked \d+$/gm) ?? []).length, 2, priv.stdout);
  const shared = spawnSync(bin, ['call-shared'], { encoding: 'utf8', timeout: 60_000, env });
  assert.equal(shared.status, 1, shared.stdout + shared.stderr);
  assert.match(shared.stdout, /FAIL \d+: eventfd: read 0/);
  assert.match(shared.stdout, /FAIL \d+: inotify: /);
});

test("agent's FORKALL_FORK=all: the program's fork() keeps fork's sharing; with FORKALL_PRIVATE_FDS=1 the child's event objects are private", () => {
  const bin = eventObjects.agent();
  const base = { ...process.env, EVENT_OBJECTS_DIR: work, LD_PRELOAD: nativeArtifact('libforkall-agent.so'), FORKALL_FORK: 'all' };
  const priv = spawnSync(bin, ['fork'], { encoding: 'utf8', timeout: 60_000, env: { ...base, FORKALL_PRIVATE_FDS: '1' } });
  assert.equal(priv.status, 0, priv.stdout + priv.stderr);
  assert.equal((priv.stdout.match(/^checked \d+$/gm) ?? []).length, 2, priv.stdout);
  const shared = spawnSync(bin, ['fork'], { encoding: 'utf8', timeout: 60_000, env: base });
  assert.equal(shared.status, 1, shared.stdout + shared.stderr);
  assert.match(shared.stdout, /FAIL \d+: eventfd: read 0/);
});

// ---- servers: two live clones answer on fresh connections ------------------

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject).listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

interface Answer {
  pid: number;
  ticks: number;
  slow: number;
  /** which process answered: its PID, and its PID namespace when the server says (exact-TID clones share the PID) */
  who: string;
}

/** One request on a fresh connection; rejects after 10 s without an answer. */
function ask(port: number): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpGet({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 10_000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d) => (body += d)).on('end', () => {
        const m = /pid=(\d+) ticks=(\d+) slow=(\d+)(?: ns=(\S+))?/.exec(body);
        if (m) resolve({ pid: Number(m[1]), ticks: Number(m[2]), slow: Number(m[3]), who: `${m[1]}/${m[4] ?? ''}` });
        else reject(new Error(`unexpected answer '${body}'`));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer on port ${port} within 10 s`)));
    req.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The template itself answers (it is up and warm): then it can be frozen. */
const untilServing = (port: number, t: Template): Promise<void> => untilAnswers(port, () => t.process.exitCode);

async function twoClonesServe(cmd: string, args: string[], port: number, exactTids = false): Promise<void> {
  const t = await spawnTemplate(cmd, args, { at: 'request', stdio: ['ignore', 'ignore', 'inherit'], timeoutMs: 60_000, exactTids });
  try {
    await untilServing(port, t);
    const original = (await ask(port)).who;
    await t.requestSnapshot();
    const [a, b] = [await t.clone(), await t.clone()];
    assert.deepEqual([a.notCopied, b.notCopied], [[], []]);
    // every request on a fresh connection is answered, by one of the two clones (never the frozen
    // template); both answer. Exact-TID clones keep the template's PID: told apart by their namespace.
    const seen = new Map<string, Answer[]>();
    for (let i = 0; (i < 20 || seen.size < 2) && i < 400; i++) {
      const r = await ask(port);
      if (exactTids) assert.notEqual(r.who, original, 'answered by the frozen template');
      else assert.ok(r.pid === a.pid || r.pid === b.pid, `answered by ${r.pid}, not by clone ${a.pid} or ${b.pid}`);
      seen.set(r.who, [...(seen.get(r.who) ?? []), r]);
    }
    assert.equal(seen.size, 2, `only ${[...seen.keys()]} answered`);
    // a graceful shutdown (SIGTERM) of one clone: the other answers every request
    a.kill('SIGTERM');
    const ended = await a.exited;
    assert.ok(ended.signal === 'SIGTERM' || ended.exitCode !== null, JSON.stringify(ended));
    let last = await ask(port);
    const survivor = last.who;
    if (!exactTids) assert.equal(last.pid, b.pid);
    const before = last;
    for (let i = 0; i < 20; i++) {
      last = await ask(port);
      assert.equal(last.who, survivor);
    }
    // its timers and workers keep running
    for (let i = 0; i < 200 && !(last.ticks > before.ticks && last.slow > before.slow); i++) {
      await sleep(50);
      last = await ask(port);
    }
    assert.ok(last.ticks > before.ticks && last.slow > before.slow, `timers stopped in ${b.pid}: ${JSON.stringify([before, last])}`);
  } finally {
    await t.close();
  }
}

test('python3 ThreadingHTTPServer with a ticking thread under the agent: two clones both answer; after SIGTERM of one the other answers all; timers run', async () => {
  const port = await freePort();
  await twoClonesServe('python3', [join(fixtures, 'py_threading_server.py'), String(port)], port);
});

test('python3 asyncio server (epoll, socketpair self-pipe, executor thread) under the agent with --exact-tids (asyncio checks the PID its loop runs in): two clones both answer; after SIGTERM of one the other answers all; timers run', async () => {
  const port = await freePort();
  await twoClonesServe('python3', [join(fixtures, 'py_async_server.py'), String(port)], port, true);
});

const haveGo = spawnSync('go', ['version']).status === 0;

function buildGo(name: string, cgo: boolean, source: string): string {
  const dir = mkdtempSync(join(work, `${name}-`));
  writeFileSync(join(dir, 'main.go'), source);
  const bin = join(dir, name);
  const r = spawnSync('go', ['build', '-o', bin, 'main.go'], {
    cwd: dir,
    encoding: 'utf8',
    timeout: 300_000,
    env: { ...process.env, GO111MODULE: 'off', CGO_ENABLED: cgo ? '1' : '0', GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'forkall-go-cache') },
  });
  assert.equal(r.status, 0, r.stderr);
  return bin;
}

const goServer = (() => {
  let bin: string | undefined;
  return () => (bin ??= buildGo('go_ticker_server', true, readFileSync(join(fixtures, 'go_ticker_server', 'main.go'), 'utf8')));
})();

test('Go net/http server with ticking goroutines and a spinning one (cgo, dynamically linked) under the agent with --exact-tids: two clones both answer; after SIGTERM of one the other answers all; timers run', { skip: haveGo ? false : 'go is not installed' }, async () => {
  const port = await freePort();
  await twoClonesServe(goServer(), [String(port)], port, true);
});

test('a Go program without --exact-tids: forkall run refuses before starting it, naming --exact-tids (Go preempts through cached TIDs)', { skip: haveGo ? false : 'go is not installed' }, () => {
  const r = spawnSync(process.execPath, [cli, 'run', '--at', 'delay=300ms', '--', goServer(), '0'], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /is a Go program: Go caches each thread's ID/);
  assert.match(r.stderr, /forkall run --exact-tids/);
});

test('a static pure-Go binary: forkall run refuses at once, naming forkall clone -p (LD_PRELOAD cannot apply)', { skip: haveGo ? false : 'go is not installed' }, () => {
  const bin = buildGo('go_static', false, 'package main\n\nimport "time"\n\nfunc main() { time.Sleep(time.Minute) }\n');
  const r = spawnSync(process.execPath, [cli, 'run', '--at', 'delay=300ms', '--', bin], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, /statically linked .*LD_PRELOAD cannot load the agent/);
  assert.match(r.stderr, /forkall clone -p PID/);
});

// ---- node: the agent cannot freeze it; forkall run holds it with ptrace ------

interface Served {
  proc: ChildProcess;
  templatePid: number;
  events: Record<string, unknown>[];
  ended: Promise<number | null>;
}

/**
 * forkall run --serve --json; resolves once the template is frozen (or held).
 * With `readyPort` the program is started with --at request and frozen by
 * `forkall snapshot -p` once it answers on that port: a fixed delay can fire
 * before a loaded machine has started all of node's threads.
 */
function serve(args: string[], readyPort?: number): Promise<Served> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, [cli, 'run', '--serve', '--json', ...(readyPort ? ['--at', 'request'] : []), ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const events: Record<string, unknown>[] = [];
    let partial = '', stderr = '';
    const ended = new Promise<number | null>((r) => proc.on('exit', (code) => r(code)));
    void ended.then(() => reject(new Error(`forkall run --serve ended before freezing: ${stderr}`)));
    const freezeWhenAnswering = async (templatePid: number) => {
      await untilAnswers(readyPort!);
      const r = await runCli(['snapshot', '-p', String(templatePid)], 120_000);
      if (r.code !== 0) reject(new Error(`forkall snapshot -p ${templatePid} failed (${r.code}): ${r.stderr}`));
    };
    proc.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    proc.stdout!.setEncoding('utf8').on('data', (d: string) => {
      partial += d;
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        const e = JSON.parse(partial.slice(0, nl)) as Record<string, unknown>;
        partial = partial.slice(nl + 1);
        events.push(e);
        if (e.event === 'serving' && readyPort) freezeWhenAnswering(Number(e.templatePid)).catch(reject);
        if (e.event === 'frozen') resolve({ proc, templatePid: Number(e.templatePid), events, ended });
      }
    });
  });
}

/** Resolves once something answers a request on `port` (within 60 s); fails early once `exited` says the server ended. */
async function untilAnswers(port: number, exited: () => number | null = () => null): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (exited() !== null) throw new Error(`the server exited (${exited()}) before serving`);
    try {
      await ask(port);
      return;
    } catch {
      await sleep(50);
    }
  }
  throw new Error(`nothing answered on port ${port} within 60 s`);
}

async function stopServe(s: Served): Promise<number | null> {
  s.proc.kill('SIGINT');
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([s.ended, new Promise<null>((r) => (timer = setTimeout(() => r(null), 30_000)))]);
  clearTimeout(timer);
  return code;
}

function killGroup(p: ChildProcess): void {
  try {
    process.kill(-p.pid!, 'SIGKILL');
  } catch {
    // gone
  }
}

function cloneServed(templatePid: number): number {
  const r = spawnSync(process.execPath, [cli, 'clone', '-p', String(templatePid), '--json'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const pid = (JSON.parse(r.stdout) as { clones: { pid: number }[] }).clones[0]!.pid;
  assert.ok(pid > 0);
  return pid;
}

async function untilGone(pid: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    try {
      if (/^State:\s*Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'))) return;
    } catch {
      return;
    }
    await sleep(50);
  }
  throw new Error(`process ${pid} did not end within 30 s`);
}

test('node (a thread blocks every signal) under forkall run --serve: held stopped by ptrace instead; a clone answers every request on fresh connections with its timer and worker_threads worker running; after its SIGTERM a new clone does; Ctrl-C reports the ends', async () => {
  const port = await freePort();
  const s = await serve(['--', process.execPath, join(fixtures, 'node_http_server.mjs'), String(port)], port);
  try {
    const held = s.events.find((e) => e.event === 'held');
    assert.ok(held, JSON.stringify(s.events));
    assert.match(String(held.reason), /blocks the parking signal/);
    assert.equal(s.events.find((e) => e.event === 'frozen')!.via, 'ptrace');
    assert.match(readFileSync(`/proc/${s.templatePid}/status`, 'utf8'), /^State:\s*T/m); // the template never runs again
    for (const round of [1, 2]) {
      const pid = cloneServed(s.templatePid);
      let first: Answer | undefined, last: Answer | undefined;
      for (let i = 0; i < 15; i++) {
        last = await ask(port);
        first ??= last;
        assert.equal(last.pid, pid, `round ${round}: answered by ${last.pid}, not the clone ${pid}`);
      }
      for (let i = 0; i < 200 && !(last!.ticks > first!.ticks && last!.slow > first!.slow); i++) {
        await sleep(50);
        last = await ask(port);
      }
      assert.ok(last!.ticks > first!.ticks && last!.slow > first!.slow, `timer or worker stopped in ${pid}: ${JSON.stringify([first, last])}`);
      process.kill(pid, 'SIGTERM');
      await untilGone(pid);
    }
    assert.equal(await stopServe(s), 0);
    const exited = s.events.filter((e) => e.event === 'exited');
    assert.equal(exited.length, 2, JSON.stringify(s.events));
    for (const e of exited) assert.equal(e.signal, 'SIGTERM');
  } finally {
    killGroup(s.proc);
  }
});

test('node under forkall run --serve (held by ptrace): two clones alive at once both answer every request on fresh connections; after SIGTERM of one the other answers all; timer and worker run', async () => {
  const port = await freePort();
  const s = await serve(['--', process.execPath, join(fixtures, 'node_http_server.mjs'), String(port)], port);
  try {
    const pids = [cloneServed(s.templatePid), cloneServed(s.templatePid)];
    const seen = new Map<number, Answer>();
    for (let i = 0; (i < 20 || seen.size < 2) && i < 400; i++) {
      const r = await ask(port);
      assert.ok(pids.includes(r.pid), `answered by ${r.pid}, not by clone ${pids.join(' or ')}`);
      seen.set(r.pid, r);
    }
    assert.equal(seen.size, 2, `only ${[...seen.keys()]} answered`);
    process.kill(pids[0]!, 'SIGTERM');
    await untilGone(pids[0]!);
    const before = await ask(port);
    let last = before;
    for (let i = 0; i < 20; i++) {
      last = await ask(port);
      assert.equal(last.pid, pids[1]);
    }
    for (let i = 0; i < 200 && !(last.ticks > before.ticks && last.slow > before.slow); i++) {
      await sleep(50);
      last = await ask(port);
    }
    assert.ok(last.ticks > before.ticks && last.slow > before.slow, `timer or worker stopped in ${pids[1]}: ${JSON.stringify([before, last])}`);
  } finally {
    await stopServe(s);
    killGroup(s.proc);
  }
});

test('forkall run -n 2 on node: held by ptrace, each clone reported and ends with its own exit code', async () => {
  const prog = join(work, 'node_exit_in_clone.mjs');
  writeFileSync(
    prog,
    "import { readlinkSync } from 'node:fs';\nimport { Worker } from 'node:worker_threads';\nnew Worker('setInterval(() => {}, 1000)', { eval: true });\n" +
      "const start = readlinkSync('/proc/self');\nsetInterval(() => { if (readlinkSync('/proc/self') !== start) process.exit(3); }, 10);\n",
  );
  const r = await runCli(['run', '--at', 'delay=800ms', '-n', '2', '--json', '--', process.execPath, prog], 120_000);
  assert.equal(r.code, 0, r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.equal(events.find((e) => e.event === 'held')?.templatePid, events.find((e) => e.event === 'frozen')?.templatePid);
  const done = events.at(-1)!;
  assert.equal(done.event, 'done');
  assert.equal(done.via, 'ptrace');
  assert.deepEqual((done.clones as { exitCode: number }[]).map((c) => c.exitCode), [3, 3]);
});

// ---- forkall run reports as it goes -----------------------------------------

interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], timeoutMs: number, onLine?: (line: string, p: ChildProcess) => void): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [cli, ...args], { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    let stdout = '', stderr = '', partial = '';
    const timer = setTimeout(() => {
      try {
        process.kill(-p.pid!, 'SIGKILL');
      } catch {
        // already gone
      }
      reject(new Error(`forkall ${args.join(' ')} did not end within ${timeoutMs} ms:\n${stdout}\n${stderr}`));
    }, timeoutMs);
    p.stdout!.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      partial += d;
      for (let nl = partial.indexOf('\n'); nl >= 0; nl = partial.indexOf('\n')) {
        onLine?.(partial.slice(0, nl), p);
        partial = partial.slice(nl + 1);
      }
    });
    p.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    p.on('exit', (code) => {
      clearTimeout(timer);
      try {
        process.kill(-p.pid!, 'SIGKILL'); // anything left in its process group
      } catch {
        // none
      }
      resolve({ code, stdout, stderr });
    });
  });
}

// the interpreter itself, not a launcher script (pyenv's shim) that a delay trigger could freeze mid-way
const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout.trim() || 'python3';
const sleeper = [python, '-c', 'import time\nwhile True: time.sleep(0.05)'];

test('forkall run --json: each clone is reported when it starts, while it runs; --timeout-ms kills the clones, reports their ends and exits 124', async () => {
  const events: Record<string, unknown>[] = [];
  let cloneAlive = 0;
  const r = await runCli(['run', '--at', 'delay=300ms', '-n', '2', '--timeout-ms', '4000', '--json', '--', ...sleeper], 90_000, (line) => {
    const e = JSON.parse(line) as Record<string, unknown>;
    events.push(e);
    if (e.event === 'cloned' && existsSync(`/proc/${e.pid}`)) cloneAlive++; // reported while the clone lives
  });
  assert.equal(r.code, 124, r.stderr);
  const kinds = events.map((e) => e.event);
  assert.equal(kinds[0], 'frozen');
  assert.equal(kinds.filter((k) => k === 'cloned').length, 2);
  assert.equal(cloneAlive, 2);
  const cloned = events.filter((e) => e.event === 'cloned').map((e) => e.pid);
  const exited = events.filter((e) => e.event === 'exited');
  assert.deepEqual(exited.map((e) => e.pid).sort(), [...cloned].sort());
  for (const e of exited) assert.equal(e.signal, 'SIGKILL', JSON.stringify(events) + r.stderr);
  assert.ok(events.some((e) => e.event === 'timeout'), JSON.stringify(events));
});

test('forkall run: Ctrl-C (SIGINT) ends the clones, reports each end as a line, exits 130', async () => {
  const lines: string[] = [];
  const r = await runCli(['run', '--at', 'delay=300ms', '-n', '2', '--', ...sleeper], 90_000, (line, p) => {
    lines.push(line);
    if (lines.filter((l) => /^clone \d+ started/.test(l)).length === 2 && /^clone \d+ started/.test(line)) p.kill('SIGINT');
  });
  assert.equal(r.code, 130, r.stderr);
  const started = lines.filter((l) => /^clone \d+ started \(\d+ threads?\)$/.test(l)).map((l) => l.split(' ')[1]);
  const ended = lines.filter((l) => /^clone \d+ ended \(/.test(l)).map((l) => l.split(' ')[1]);
  assert.equal(started.length, 2, lines.join('\n'));
  assert.deepEqual([...ended].sort(), [...started].sort(), lines.join('\n'));
});

test('Go with goroutines that never yield, under the agent with --exact-tids: the clone preempts them (five GCs) and exits 0', { skip: haveGo ? false : 'go is not installed' }, () => {
  const bin = buildGo('go_spin', true, readFileSync(join(fixtures, 'go_spin', 'main.go'), 'utf8'));
  const r = spawnSync(process.execPath, [cli, 'run', '--at', 'delay=1500ms', '--exact-tids', '-n', '1', '--timeout-ms', '60000', '--', bin], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /clone \d+ 5 GCs in/);
});
