// Real servers cloned by PID with the remote engine (default flags) while they
// serve. With original and clone both alive, requests on fresh connections
// are all answered, and by both processes (they share the listening socket,
// so the kernel spreads the accepts; each answer names the process that
// answered). After the original's SIGTERM (its graceful shutdown) the clone
// answers every request, and its timers and workers keep running. These fail
// with plain fork sharing (--shared-fds): the original's event loop takes the
// clone's events and its shutdown empties the shared epoll instance.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readlinkSync, chmodSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitForExit } from '../src/remote/wait-exit.js';
import { packageRoot } from '../src/native/paths.js';
import { have, heldThreads, sleep } from './helpers/programs.js';
import { ask, freePort, httpGet, processId, spreadUntilAll } from './helpers/servers.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
const fixture = (f: string) => join(packageRoot, 'test', 'fixtures', f);

/** Ends every PID (SIGKILL) and collects each, bounded. */
async function endAll(...pids: number[]) {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const p of pids) await exitWithin(p, 30_000).catch(() => undefined);
}

async function exitWithin(pid: number, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      waitForExit(pid, 20),
      new Promise<never>((_r, reject) => (timer = setTimeout(() => reject(new Error(`PID ${pid} did not exit within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Resolves with `ready`, or fails as soon as `child` exits first (a server that could not start). */
function unlessExited<T>(child: ChildProcess, name: string, ready: Promise<T>): Promise<T> {
  let onExit: (() => void) | undefined;
  const exited = new Promise<never>((_r, reject) => {
    onExit = () => reject(new Error(`${name} exited (code ${child.exitCode}, signal ${child.signalCode}) before it served`));
    if (child.exitCode !== null || child.signalCode !== null) onExit();
    else child.once('exit', onExit);
  });
  return Promise.race([ready, exited]).finally(() => onExit && child.off('exit', onExit));
}

/** Retries `request` until it succeeds (the server has started), bounded. */
async function untilServing(name: string, request: () => Promise<unknown>, timeoutMs = 60_000) {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      await request();
      return;
    } catch (e) {
      last = e;
      await sleep(100);
    }
  }
  assert.fail(`${name} did not start serving within ${timeoutMs} ms: ${String(last)}`);
}

interface CliClone {
  pid: number;
  childPid?: number;
  threads: number;
  privateFds?: number;
  notCopied?: { fd: number; kind: string; reason: string; effect: string }[];
}

function cloneByCli(pid: number, extra: string[] = []): { status: number | null; stderr: string; threads?: number; clone?: CliClone } {
  const r = spawnSync(process.execPath, [cli, 'clone', '-p', String(pid), '--json', ...extra], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) return { status: r.status, stderr: r.stderr };
  const report = JSON.parse(r.stdout);
  return { status: r.status, stderr: r.stderr, threads: report.threads, clone: report.clones[0] as CliClone };
}

interface Server {
  name: string;
  skip: string | false;
  /** starts the server (the test ends it in `finally`, whatever happens next) */
  spawn(port: number): ChildProcess;
  /** resolves once it serves (and holds the data the requests ask for) */
  ready(port: number): Promise<void>;
  /** one request on a fresh connection; resolves with the answering process's id (`<pid>@<pid ns>`) */
  request(port: number): Promise<string>;
  /** counters that the process's timers and workers advance */
  progress(port: number): Promise<number[]>;
  /** load that makes the server's worker threads work (default: requests) */
  load?(port: number): Promise<void>;
  exactTids?: boolean;
  timeoutMs?: number;
  /** event objects the clone must get private copies of (default 1) */
  minPrivate?: number;
}

// FORKALL_SERVERS_CLONE_FLAGS=--shared-fds shows what these tests catch: with fork's sharing they fail
const extraFlags = (process.env.FORKALL_SERVERS_CLONE_FLAGS ?? '').split(' ').filter(Boolean);
const sharedOnPurpose = extraFlags.includes('--shared-fds');

const idOf = (text: string): string => {
  const m = /id=(\S+)/.exec(text);
  if (!m) throw new Error(`no id in the answer ${JSON.stringify(text)}`);
  return m[1]!;
};
const numbers = (text: string, re: RegExp): number[] => {
  const m = re.exec(text);
  if (!m) throw new Error(`no ${re} in ${JSON.stringify(text.slice(0, 300))}`);
  return m.slice(1).flatMap((x) => x.split(',').map(Number));
};

const memcachedStats = (port: number) => ask(port, 'stats\r\n', /\r\nEND\r\n$/);
/** A redis bulk reply, complete once its declared length has arrived. */
const redisBulk = (port: number, cmd: string) =>
  ask(port, cmd, (g) => {
    const m = /^\$(\d+)\r\n/.exec(g);
    return !!m && Buffer.byteLength(g) >= m[0].length + Number(m[1]) + 2;
  });

/** Directories made for the servers (redis's, the Go build), removed when the file is done. */
const scratchDirs: string[] = [];
const scratchDir = (prefix: string) => {
  const d = mkdtempSync(join(tmpdir(), prefix));
  scratchDirs.push(d);
  return d;
};
after(() => {
  for (const d of scratchDirs) rmSync(d, { recursive: true, force: true });
});

const goBinary = (() => {
  let built: string | undefined;
  return () => {
    if (built) return built;
    const dir = scratchDir('forkall-go-');
    const out = join(dir, 'gohttp');
    const r = spawnSync('go', ['build', '-o', out, '.'], { cwd: fixture('go_http'), encoding: 'utf8', env: { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: process.env.GOCACHE ?? join(tmpdir(), 'forkall-gocache') }, timeout: 300_000 });
    if (r.status !== 0) throw new Error(`go build failed: ${r.stderr}`);
    return (built = out);
  };
})();

const servers: Server[] = [
  {
    name: 'memcached -t 4',
    skip: have('memcached') ? false : 'memcached is not installed',
    spawn: (port) => spawn('memcached', ['-t', '4', '-p', String(port), '-U', '0', '-l', '127.0.0.1', '-u', 'nobody'], { stdio: 'ignore' }),
    ready: async (port) => {
      await untilServing('memcached', () => ask(port, 'version\r\n', /VERSION/, 2000));
      assert.match(await ask(port, 'set forkall 0 0 5\r\nhello\r\n', /STORED\r\n/), /STORED/);
    },
    request: async (port) => {
      const r = await ask(port, 'get forkall\r\n', /END\r\n$/);
      assert.match(r, /VALUE forkall 0 5\r\nhello/);
      return processId(numbers(await memcachedStats(port), /STAT pid (\d+)/)[0]!);
    },
    progress: async (port) => numbers(await memcachedStats(port), /STAT time (\d+)/),
  },
  {
    name: 'redis-server --io-threads 4 --io-threads-do-reads yes',
    skip: have('redis-server') ? false : 'redis-server is not installed',
    spawn: (port) => {
      const dir = scratchDir('forkall-redis-');
      chmodSync(dir, 0o777);
      return spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir, '--io-threads', '4', '--io-threads-do-reads', 'yes'], { stdio: 'ignore' });
    },
    ready: async (port) => {
      await untilServing('redis-server', () => ask(port, 'PING\r\n', /PONG/, 2000));
      assert.match(await ask(port, 'SET forkall hello\r\n', /\+OK/), /\+OK/);
    },
    request: async (port) => {
      assert.match(await ask(port, 'GET forkall\r\n', /hello\r\n/), /\$5\r\nhello/);
      return processId(numbers(await redisBulk(port, 'INFO server\r\n'), /process_id:(\d+)/)[0]!);
    },
    // lru_clock is advanced by serverCron, a timer event; the I/O threads' counters by the I/O threads
    progress: async (port) => [
      ...numbers(await redisBulk(port, 'INFO server\r\n'), /lru_clock:(\d+)/),
      ...numbers(await redisBulk(port, 'INFO stats\r\n'), /io_threaded_reads_processed:(\d+)/),
    ],
    // enough clients at once that redis hands reads and writes to its I/O threads
    load: async (port) => {
      await Promise.all(Array.from({ length: 24 }, () => ask(port, 'GET forkall\r\n'.repeat(4), (g) => g.split('hello').length > 4)));
    },
  },
  {
    name: 'node http server answering through a worker_threads worker',
    skip: false,
    spawn: (port) => spawn(process.execPath, [fixture('node_http_worker.mjs'), String(port)], { stdio: 'ignore' }),
    ready: (port) => untilServing('node', () => httpGet(port, '/', 2000)),
    request: async (port) => idOf(await httpGet(port)),
    progress: async (port) => numbers(await httpGet(port), /ticks=(\d+) workerTicks=(\d+)/),
  },
  {
    name: 'python3 ThreadingHTTPServer with a ticker thread',
    skip: have('python3') ? false : 'python3 is not installed',
    minPrivate: 0, // socketserver waits with poll(2): no event objects of its own
    spawn: (port) => spawn('python3', [fixture('py_http_server.py'), String(port)], { stdio: 'ignore' }),
    ready: (port) => untilServing('python3', () => httpGet(port, '/', 2000)),
    request: async (port) => idOf(await httpGet(port)),
    progress: async (port) => numbers(await httpGet(port), /ticks=(\d+)/),
  },
  {
    name: 'python3 asyncio server (epoll, socketpair self-pipe, thread-pool answers, ticking task), --exact-tids',
    skip: have('python3') ? false : 'python3 is not installed',
    exactTids: true, // asyncio finds its loop only under the PID it recorded (refused without: test below)
    minPrivate: 2, // its epoll instance and its self-pipe socketpair
    spawn: (port) => spawn('python3', [fixture('py_asyncio_server.py'), String(port)], { stdio: 'ignore' }),
    ready: (port) => untilServing('python3 asyncio', () => httpGet(port, '/', 2000)),
    request: async (port) => idOf(await httpGet(port)),
    progress: async (port) => numbers(await httpGet(port), /ticks=(\d+)/),
  },
  {
    name: 'Java com.sun.net.httpserver on a 4-thread pool with a scheduled ticker',
    skip: have('java') ? false : 'java is not installed',
    timeoutMs: 240_000,
    spawn: (port) => spawn('java', ['-Xmx64m', fixture('JavaHttpServer.java'), String(port)], { stdio: 'ignore' }),
    ready: (port) => untilServing('java', () => httpGet(port, '/', 2000), 180_000),
    request: async (port) => idOf(await httpGet(port)),
    progress: async (port) => numbers(await httpGet(port), /ticks=(\d+)/),
  },
  {
    name: 'Go net/http with ticking goroutines, --exact-tids',
    skip: have('go') ? false : 'go is not installed (CI: add golang-go to the apt list)',
    exactTids: true,
    timeoutMs: 300_000,
    spawn: (port) => spawn(goBinary(), [String(port)], { stdio: 'ignore' }),
    ready: (port) => untilServing('go', () => httpGet(port, '/', 2000)),
    request: async (port) => idOf(await httpGet(port)),
    progress: async (port) => numbers(await httpGet(port), /ticks=([\d,]+)/),
  },
];

for (const s of servers) {
  test(`${s.name}: clone and original both answer every request; after the original's SIGTERM the clone answers alone, timers and workers running`, { skip: s.skip, timeout: s.timeoutMs ?? 180_000 }, async () => {
    const port = await freePort();
    const orig = s.spawn(port);
    const opid = orig.pid!;
    let clonePid = 0;
    let childPid = 0;
    try {
      await unlessExited(orig, s.name, s.ready(port));
      const r = cloneByCli(opid, [...(s.exactTids ? ['--exact-tids'] : []), ...extraFlags]);
      assert.equal(r.status, 0, `forkall clone -p ${opid} failed: ${r.stderr}`);
      clonePid = r.clone!.pid;
      childPid = r.clone!.childPid ?? clonePid;
      // (a server may start or end a thread at any moment: compare with what the engine saw)
      assert.ok(r.threads! >= 2, `only ${r.threads} thread(s) in the original`);
      assert.equal(r.clone!.threads, r.threads, 'every thread recreated');
      if (!sharedOnPurpose) assert.ok((r.clone!.privateFds ?? 0) >= (s.minPrivate ?? 1), `the clone got too few private event objects: ${JSON.stringify(r.clone)}`);
      assert.deepEqual(heldThreads(opid), [], 'the original was left stopped or traced');
      const ids = [processId(opid), s.exactTids ? `${opid}@${readlinkSync(`/proc/${childPid}/ns/pid`)}` : processId(childPid)];
      assert.notEqual(ids[0], ids[1]);

      const both = await spreadUntilAll(() => s.request(port), ids, { min: 30, max: 600 });
      console.log(`${s.name}: ${both.requests} requests, answers ${JSON.stringify(Object.fromEntries(both.counts))}; not copied: ${JSON.stringify(r.clone!.notCopied)}`);

      process.kill(opid, 'SIGTERM');
      await exitWithin(opid, 60_000);
      const alone = await spreadUntilAll(() => s.request(port), [ids[1]!], { min: 30, max: 60 });
      assert.equal(alone.counts.get(ids[1]!), alone.requests, 'every answer came from the clone');

      // timers and workers in the clone keep running
      const before = await s.progress(port);
      const deadline = Date.now() + 30_000;
      let after = before;
      while (Date.now() < deadline) {
        if (s.load) await s.load(port);
        await sleep(300);
        after = await s.progress(port);
        if (after.every((v, i) => v > before[i]!)) break;
      }
      assert.ok(after.every((v, i) => v > before[i]!), `counters in the clone did not all advance: before ${before}, after ${after}`);
    } finally {
      await endAll(opid, ...(childPid && childPid !== clonePid ? [childPid] : []), ...(clonePid ? [clonePid] : []));
    }
  });
}

test('Go net/http: a clone with new TIDs is refused with a message naming --exact-tids, the original untouched', { skip: have('go') ? false : 'go is not installed (CI: add golang-go to the apt list)', timeout: 300_000 }, async () => {
  const port = await freePort();
  const p = spawn(goBinary(), [String(port)], { stdio: 'ignore' });
  try {
    await unlessExited(p, 'go', untilServing('go', () => httpGet(port, '/', 2000)));
    const r = cloneByCli(p.pid!);
    assert.equal(r.status, 5, `expected exit 5 (refused): ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`PID ${p.pid} is a Go program.*--exact-tids`));
    assert.deepEqual(heldThreads(p.pid!), []);
    assert.equal(idOf(await httpGet(port)), processId(p.pid!));
  } finally {
    await endAll(p.pid!);
  }
});

test('python3 asyncio: a clone with a new PID is refused with a message naming --exact-tids, the original untouched', { skip: have('python3') ? false : 'python3 is not installed', timeout: 120_000 }, async () => {
  const port = await freePort();
  const p = spawn('python3', [fixture('py_asyncio_server.py'), String(port)], { stdio: 'ignore' });
  try {
    await unlessExited(p, 'python3 asyncio', untilServing('python3 asyncio', () => httpGet(port, '/', 2000)));
    const r = cloneByCli(p.pid!);
    assert.equal(r.status, 5, `expected exit 5 (refused): ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`PID ${p.pid} is a Python program that loaded asyncio.*--exact-tids`));
    assert.deepEqual(heldThreads(p.pid!), []);
    assert.equal(idOf(await httpGet(port)), processId(p.pid!));
  } finally {
    await endAll(p.pid!);
  }
});
