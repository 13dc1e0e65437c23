// unfork: a live process's memory imported lazily into a helper, its own
// functions run there. The target is never stopped, traced or signalled: its
// own watchdog (every catchable signal handled, TracerPid read every ms) and
// ticker (1 ms ticks, longest gap) are the witnesses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdtempSync, openSync, readFileSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { unfork, UnforkError } from '../src/index.js';
import { readMaps } from '../src/unfork/maps.js';
import { TargetMemory } from '../src/unfork/memory.js';
import { SymbolResolver } from '../src/unfork/resolve.js';
import { closedToOthers } from './helpers/closed-dir.js';

const cli = join(packageRoot, 'bin', 'forkall.js');
type Flavour = 'glibc' | 'musl' | 'glibc-static' | 'musl-static';
const targetPath = (flavour: Flavour) =>
  join(packageRoot, 'native', 'build', flavour.split('-')[0]!, 'unfork', flavour.endsWith('-static') ? 'unfork_target_static' : 'unfork_target');
const NOBODY = ['--reuid=nobody', '--regid=nogroup', '--clear-groups'];
const haveSetpriv = spawnSync('sh', ['-c', 'command -v setpriv']).status === 0;

interface Target {
  child: ChildProcess;
  pid: number;
  token: string;
  victim: bigint;
  /** pthread_self() of the main thread: its thread pointer */
  self: bigint;
  /** 1 MB of anonymous memory the target never touches */
  untouched: bigint;
  /** sends a command line and resolves to the first later line starting with `reply` */
  ask(cmd: string, reply: string): Promise<string>;
}

async function startTarget(flavour: Flavour, opts: { args?: string[]; asNobody?: boolean; bin?: string } = {}): Promise<Target> {
  const bin = opts.bin ?? targetPath(flavour);
  const child = opts.asNobody ? spawn('setpriv', [...NOBODY, bin, ...(opts.args ?? [])], { stdio: ['pipe', 'pipe', 'inherit'] }) : spawn(bin, opts.args ?? [], { stdio: ['pipe', 'pipe', 'inherit'] });
  let buf = '';
  const waiters: { prefix: string; resolve: (l: string) => void }[] = [];
  child.stdout!.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const i = waiters.findIndex((w) => line.startsWith(w.prefix));
      if (i >= 0) waiters.splice(i, 1)[0]!.resolve(line);
    }
  });
  const next = (prefix: string) =>
    new Promise<string>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`target did not print ${prefix} within 60 s`)), 60_000);
      waiters.push({ prefix, resolve: (l) => (clearTimeout(t), resolve(l)) });
    });
  const ready = await next('READY');
  const m = /pid=(\d+) token=([0-9a-f]{16}) victim=0x([0-9a-f]+) self=0x([0-9a-f]+) untouched=0x([0-9a-f]+)/.exec(ready)!;
  return {
    child,
    pid: Number(m[1]),
    token: m[2]!,
    victim: BigInt('0x' + m[3]),
    self: BigInt('0x' + m[4]),
    untouched: BigInt('0x' + m[5]),
    ask: (cmd, reply) => {
      const p = next(reply);
      child.stdin!.write(cmd + '\n');
      return p;
    },
  };
}

function stop(t: Target | undefined): void {
  try {
    t?.child.kill('SIGKILL');
  } catch {
    // gone
  }
}

interface Report {
  signals: number;
  tracer: number;
  maxgapUs: number;
  counter: number;
}
async function report(t: Target): Promise<Report> {
  const l = await t.ask('report', 'REPORT');
  const n = (k: string) => Number(new RegExp(`${k}=(\\d+)`).exec(l)![1]);
  return { signals: n('signals'), tracer: n('tracer'), maxgapUs: n('maxgap_us'), counter: n('counter') };
}

function forkall(args: string[], asNobody = false): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = asNobody ? spawn('setpriv', [...NOBODY, process.execPath, cli, ...args]) : spawn(process.execPath, [cli, ...args]);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => {
    const t = setTimeout(() => child.kill('SIGKILL'), 180_000);
    child.on('close', (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
  });
}

/** The longest 1 ms-tick gap of the target over ~1000 ticks of quiet: the scheduling noise of this machine now. */
async function baselineGap(t: Target): Promise<number> {
  await t.ask('reset', 'RESET');
  const start = (await report(t)).counter;
  for (;;) {
    const r = await report(t);
    if (r.counter >= start + 1000) return r.maxgapUs;
    await new Promise((res) => setTimeout(res, 50));
  }
}

for (const flavour of ['glibc', 'musl', 'glibc-static', 'musl-static'] as const) {
  test(`${flavour}: --call prints the runtime token through the target's own function, twice from one import; the target never stops, is never traced or signalled`, { timeout: 300_000 }, async (ctx) => {
    if (!existsSync(targetPath(flavour))) return ctx.skip(`${targetPath(flavour)} not built (musl-gcc missing?)`);
    let t: Target | undefined;
    try {
      t = await startTarget(flavour);
      // the token exists only at run time, not in the file
      const file = readFileSync(targetPath(flavour));
      assert.equal(file.indexOf(Buffer.from(t.token, 'hex').reverse()), -1);
      assert.equal(file.indexOf(t.token), -1);
      const baseline = await baselineGap(t);
      await t.ask('reset', 'RESET');
      const before = Math.floor(Number(process.hrtime.bigint() / 1_000_000n) / 1000);
      const r = await forkall(['unfork', '-p', String(t.pid), '--call', 'print_token', '--arg', 'first:', '--call', 'print_token', '--arg', 'second:', '--call', 'vdso_clock', '--arg', '', '--call', 'pthread_self', '--json']);
      const after0 = Math.ceil(Number(process.hrtime.bigint() / 1_000_000n) / 1000);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const j = JSON.parse(r.stdout);
      assert.equal(j.source, t.pid);
      // lazy: only the pages the calls touched were read
      assert.ok(j.pagesImported > 0 && j.pagesImported < j.pagesMapped, `${j.pagesImported} of ${j.pagesMapped} pages imported`);
      ctx.diagnostic(`${flavour}: ${j.pagesImported} of ${j.pagesMapped} pages read from the target`);
      assert.deepEqual(
        j.steps.slice(0, 2).map((s: { output: string; returned: string }) => [s.output, s.returned]),
        [
          [`first:token=${t.token}\n`, '1006'],
          [`second:token=${t.token}\n`, '1007'],
        ],
      );
      // the call ran with the main thread's thread pointer, found in memory
      assert.equal(BigInt(j.steps[3].returned), t.self, 'pthread_self() in the copy is the main thread of the target');
      // clock_gettime ran through the vdso the helper moved to the target's vdso address
      const clock = Number(j.steps[2].returned);
      assert.equal(j.steps[2].output, `clock=${clock}\n`);
      assert.ok(clock >= before && clock <= after0, `CLOCK_MONOTONIC in the copy ${clock} s, outside [${before}, ${after0}]`);
      const after = await report(t);
      ctx.diagnostic(`${flavour}: longest tick gap ${after.maxgapUs} us during the unfork, ${baseline} us baseline just before`);
      assert.equal(after.signals, 0, 'the target received a signal');
      assert.equal(after.tracer, 0, 'the target was traced');
      assert.ok(after.maxgapUs < Math.max(1_000_000, 10 * baseline), `the target's ticker stalled for ${after.maxgapUs} us (baseline ${baseline} us)`);
    } finally {
      stop(t);
    }
  });
}

test('--read ADDR:LEN and SYMBOL:LEN dump the copy: the token variable and a page of the target', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  try {
    t = await startTarget('glibc');
    const r = await forkall(['unfork', '-p', String(t.pid), '--read', 'token:8', '--read', `0x${t.victim.toString(16)}:4`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [tok, vic] = JSON.parse(r.stdout).steps;
    assert.equal(Buffer.from(tok.hex, 'hex').readBigUInt64LE().toString(16).padStart(16, '0'), t.token);
    assert.equal(vic.hex, '07000000');
    const text = await forkall(['unfork', '-p', String(t.pid), '--read', 'token:8']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, new RegExp(Buffer.from(t.token, 'hex').reverse().toString('hex').replace(/(..)(?!$)/g, '$1 ')));
    const bad = await forkall(['unfork', '-p', String(t.pid), '--read', '0x1000:16']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /0x1000 is not in a readable mapping/);
  } finally {
    stop(t);
  }
});

test('Node API: pages stay as imported until refresh(); then they are read again', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  const u = await (async () => {
    t = await startTarget('glibc');
    return unfork(t.pid);
  })();
  try {
    const first = (await u.read('counter', 8)).readBigUInt64LE();
    // wait until the live counter has moved well past what the copy holds
    while (BigInt((await report(t!)).counter) < first + 50n) await new Promise((r) => setTimeout(r, 20));
    assert.equal((await u.read('counter', 8)).readBigUInt64LE(), first, 'a page once imported is kept');
    await u.refresh();
    const again = (await u.read('counter', 8)).readBigUInt64LE();
    assert.ok(again >= first + 50n, `after refresh the counter is read again (${first} -> ${again})`);
    const c = await u.call('print_counter', 'n:');
    assert.match(c.output.toString(), /^n:counter=\d+\n$/);
    // a library function, named with its library, with an integer argument
    // the called code's fd 0 is /dev/null and its fd 3 is not the protocol
    const noisy = await u.call('noisy_fds', 'fds:');
    assert.equal(noisy.output.toString(), 'fds:read=0\n');
    assert.equal(noisy.stderr.toString(), 'fds:to stderr\n');
    const abs = await u.call('labs@libc', -5);
    assert.equal(abs.returned, 5n);
    assert.match(abs.address.toString(16), /^7[0-9a-f]{11}$/, 'an address in a shared library, high in user space');
  } finally {
    await u.close();
    stop(t);
  }
});

test('--consistent imports a held copy: a frozen instant even across --refresh; the copy is gone afterwards', { timeout: 180_000 }, async () => {
  let t: Target | undefined;
  try {
    t = await startTarget('glibc');
    const r = await forkall(['unfork', '-p', String(t.pid), '--consistent', '--call', 'print_counter', '--arg', 'a:', '--refresh', '--call', 'print_counter', '--arg', 'b:', '--call', 'print_token', '--arg', '', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.notEqual(j.source, t.pid);
    const [a, b, tok] = j.steps.map((s: { output: string }) => s.output);
    assert.equal(a.replace('a:', ''), b.replace('b:', ''), 'the held copy does not move');
    assert.equal(tok, `token=${t.token}\n`);
    const state = existsSync(`/proc/${j.source}/stat`) ? readFileSync(`/proc/${j.source}/stat`, 'utf8').split(') ')[1]![0] : 'gone';
    assert.ok(state === 'gone' || state === 'Z' || state === 'X', `the held copy ${j.source} is still alive (${state})`);
    assert.equal((await report(t)).signals, 0);
  } finally {
    stop(t);
  }
});

test('a target whose executable was deleted: its symbols are read through /proc/PID/exe', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'forkall-unfork-'));
  const bin = join(dir, 'deleted_target');
  try {
    copyFileSync(targetPath('glibc'), bin);
    chmodSync(bin, 0o755);
    t = await startTarget('glibc', { bin });
    rmSync(dir, { recursive: true });
    assert.match(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), /deleted_target \(deleted\)/);
    const r = await forkall(['unfork', '-p', String(t.pid), '--call', 'print_token', '--arg', 'd:']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^d:token=${t.token}$`, 'm'));
  } finally {
    stop(t);
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const flavour of ['glibc', 'musl'] as const) {
  test(`${flavour}: the dynamic symbols read from the loaded image equal those read from the files`, { timeout: 60_000 }, async (ctx) => {
    if (!existsSync(targetPath(flavour))) return ctx.skip(`${targetPath(flavour)} not built`);
    let t: Target | undefined;
    try {
      t = await startTarget(flavour);
      const maps = readMaps(t.pid);
      const mem = new TargetMemory(t.pid);
      const fromFiles = new SymbolResolver(t.pid, maps);
      const fromMemory = new SymbolResolver(t.pid, maps, mem, true);
      const names = ['fflush', 'printf', 'labs', 'malloc', ...(flavour === 'glibc' ? ['_rtld_global', '_thread_db_pthread_tid'] : [])];
      for (const n of names) {
        const a = fromFiles.resolve(n)?.address;
        assert.ok(a, `${n} in the files`);
        assert.equal(fromMemory.resolve(n)?.address, a, n);
      }
      mem.close();
    } finally {
      stop(t);
    }
  });
}

test('python3: Python code runs in a copy of a live interpreter (PyGILState_Ensure, PyRun_SimpleString) and sees its runtime state, live and --consistent', { timeout: 120_000 }, async (ctx) => {
  if (spawnSync('sh', ['-c', 'command -v python3']).status !== 0) return ctx.skip('python3 not installed');
  // The live step runs while the interpreter is idle (its main thread blocked in a read,
  // no other thread): the lazy view is a mix of moments, so a call that allocates is only
  // safe while no thread of the target allocates. With the ticker running it was not:
  // pymalloc's pool header (freeblock) and the free block it points to were read a few ms
  // apart, the block had been handed out meanwhile (its first word a refcount of 1), and
  // the copy crashed in pymalloc_alloc at address 0x1 (2 runs in 20 on an idle machine).
  // The ticker is started for the --consistent step, which reads one instant.
  const code =
    "import sys, threading, time\nsecret = 'py-%d-%d' % (time.time_ns(), id(object()))\nticks = [0]\ndef tick():\n    while True:\n        time.sleep(0.001); ticks[0] += 1\n" +
    "print('READY', secret, flush=True)\nsys.stdin.readline()\nthreading.Thread(target=tick, daemon=True).start()\nwhile ticks[0] < 300: time.sleep(0.01)\nprint('TICKING', flush=True)\ntime.sleep(1000)\n";
  const py = spawn('python3', ['-c', code], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    let out = '';
    const line = (re: RegExp) =>
      new Promise<RegExpExecArray>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`python3 did not print ${re} within 60 s: ${out}`)), 60_000);
        const look = () => {
          const m = re.exec(out);
          if (m) {
            clearTimeout(t);
            py.stdout.off('data', onData);
            py.off('exit', onExit);
            resolve(m);
          }
        };
        const onData = (d: Buffer) => ((out += d), look());
        const onExit = () => (clearTimeout(t), reject(new Error('python3 exited')));
        py.stdout.on('data', onData);
        py.on('exit', onExit);
        look();
      });
    const secret = (await line(/READY (\S+)\n/))[1]!;
    // live: the target runs (blocked in its read), nothing in it changes while pages are read
    const r = await forkall(['unfork', '-p', String(py.pid), '--call', 'PyGILState_Ensure', '--call', 'PyRun_SimpleString', '--arg', "import sys; print('copy sees', secret); sys.stdout.flush()", '--json']);
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.steps[1].output, `copy sees ${secret}\n`, JSON.stringify(j.steps));
    assert.equal(j.steps[1].returned, '0');
    py.stdin.write('go\n');
    await line(/TICKING\n/);
    // ticks[0] is replaced by a new int object every millisecond: read lazily, the list
    // and the int it points to may come from different moments (seen: a TypeError on a
    // freed object), and so may pymalloc's free lists (the crash above). --consistent
    // reads one instant.
    // One instant, but any instant: had the ticker the GIL then, PyGILState_Ensure in the copy
    // waits for a thread the copy does not run (a timeout); another instant is taken then.
    let c = { code: null as number | null, stdout: '', stderr: '' };
    for (let attempt = 0; attempt < 3; attempt++) {
      c = await forkall(['unfork', '-p', String(py.pid), '--consistent', '--timeout', '15000', '--call', 'PyGILState_Ensure', '--call', 'PyRun_SimpleString', '--arg', "import sys; print('copy sees', secret, ticks[0] > 0); sys.stdout.flush()", '--json']);
      if (c.code !== 8 || !/did not finish within/.test(c.stderr)) break;
    }
    assert.equal(c.code, 0, c.stderr);
    assert.equal(JSON.parse(c.stdout).steps[1].output, `copy sees ${secret} True\n`);
    assert.equal(py.exitCode, null, 'python3 still runs');
  } finally {
    py.kill('SIGKILL');
  }
});

test('usage errors exit 2 and name the flag', { timeout: 60_000 }, async () => {
  for (const [args, msg] of [
    [['--arg', 'x'], /--arg 'x' must follow a --call/],
    [[], /nothing to do/],
    [['--read', 'token'], /--read expects ADDR:LEN/],
    [['--call', 'x', '--timeout', '0'], /--timeout/],
  ] as const) {
    const r = await forkall(['unfork', '-p', String(process.pid), ...args]);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, msg);
  }
  const bad = await forkall(['unfork', '-p', 'abc', '--call', 'x']);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /-p expects a process ID/);
});

test('errors: symbol not found, no such process, a kernel thread, crash in the called function (target unaffected)', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  try {
    t = await startTarget('glibc');
    const nf = await forkall(['unfork', '-p', String(t.pid), '--call', 'no_such_function']);
    assert.equal(nf.code, 2);
    assert.match(nf.stderr, /symbol 'no_such_function' not found in PID \d+ \(searched .*libc\.so\.6/);
    const crash = await forkall(['unfork', '-p', String(t.pid), '--call', 'crash_null', '--arg', 'x', '--json']);
    assert.equal(crash.code, 8);
    assert.match(crash.stderr, /crashed in the copy: signal 11 at address 0x0 .*the target was not affected/);
    assert.match(crash.stderr, /read from the running target page by page: .*--consistent reads one instant/, 'a live crash points to --consistent');
    assert.equal(JSON.parse(crash.stdout).error.code, 'crash');
    const rep = await report(t);
    assert.equal(rep.signals, 0);
    const gone = await forkall(['unfork', '-p', '999999999', '--call', 'x']);
    assert.equal(gone.code, 4, gone.stderr);
    if (readFileSync('/proc/2/stat', 'utf8').includes('(kthreadd)')) {
      const kthread = await forkall(['unfork', '-p', '2', '--call', 'x']);
      assert.equal(kthread.code, 5, kthread.stderr);
      assert.match(kthread.stderr, /PID 2 has no memory to import/);
    }
  } finally {
    stop(t);
  }
});

test('errors: a call blocked on a lock another thread of the target holds is ended by --timeout', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  try {
    t = await startTarget('glibc');
    const r = await forkall(['unfork', '-p', String(t.pid), '--timeout', '2000', '--call', 'print_token', '--arg', 'a:', '--call', 'take_busy_lock', '--arg', 'b:', '--json']);
    assert.equal(r.code, 8, r.stderr);
    assert.match(r.stderr, /'call' did not finish within 2000 ms .*the target was not affected/);
    const j = JSON.parse(r.stdout);
    assert.equal(j.steps.length, 1, 'the first call was reported');
    assert.equal(j.error.code, 'timeout');
    assert.equal((await report(t)).signals, 0);
  } finally {
    stop(t);
  }
});

/** Bit 63 of the target's pagemap entry for `addr`: a page is mapped in its page tables. */
function present(pid: number, addr: bigint): boolean {
  const fd = openSync(`/proc/${pid}/pagemap`, 'r');
  try {
    const b = Buffer.alloc(8);
    readSync(fd, b, 0, 8, Number((addr / 4096n) * 8n));
    return (b.readBigUInt64LE() >> 63n) === 1n;
  } finally {
    closeSync(fd);
  }
}

test('a page of anonymous memory the target never touched is zeros in the copy and stays absent from the target\'s page tables', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  let u;
  try {
    t = await startTarget('glibc');
    const page = t.untouched + 5n * 4096n;
    assert.equal(present(t.pid, page), false);
    u = await unfork(t.pid);
    assert.deepEqual(await u.read(page, 64), Buffer.alloc(64));
    assert.equal(present(t.pid, page), false, 'reading it mapped a page into the target');
    // a page the target did write is still read from it
    assert.equal((await u.read(t.victim, 1))[0], 7);
  } finally {
    await u?.close();
    stop(t);
  }
});

test('errors: a page the target unmapped after the import fails the read, the target is unaffected', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  let u;
  try {
    t = await startTarget('glibc');
    u = await unfork(t.pid);
    await t.ask('unmap', 'UNMAPPED');
    await assert.rejects(u.read(t.victim, 16), (e: unknown) => e instanceof UnforkError && e.code === 'fault' && e.message.includes(`0x${t!.victim.toString(16)}`));
    // the helper has ended: later calls fail with the same cause
    await assert.rejects(u.call('print_token', 'x'), (e: unknown) => e instanceof UnforkError && e.code === 'fault');
    assert.equal((await report(t)).signals, 0);
  } finally {
    await u?.close();
    stop(t);
  }
});

test('errors: a target with a mapping in the helper range cannot be imported', { timeout: 120_000 }, async () => {
  let t: Target | undefined;
  try {
    t = await startTarget('glibc', { args: ['--collide'] });
    assert.match(readFileSync(`/proc/${t.pid}/maps`, 'utf8'), /^6f0000100000-/m);
    const r = await forkall(['unfork', '-p', String(t.pid), '--call', 'print_token', '--arg', 'x']);
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /inside the helper's own range 0x6f0000000000-0x700000000000.*0x6f0000100000-0x6f0000101000/);
  } finally {
    stop(t);
  }
});

test('errors: userfaultfd not permitted (as nobody, vm.unprivileged_userfaultfd=0); --user-mode-only then works', { timeout: 120_000 }, async (ctx) => {
  if (process.getuid?.() !== 0 || !haveSetpriv) return ctx.skip('needs root and setpriv to run as nobody');
  if (closedToOthers()) return ctx.skip(`nobody cannot run forkall from this checkout: ${closedToOthers()} is closed to other users (e.g. a mktemp -d directory)`);
  const sysctl = readFileSync('/proc/sys/vm/unprivileged_userfaultfd', 'utf8').trim();
  if (sysctl !== '0') return ctx.skip(`vm.unprivileged_userfaultfd is ${sysctl}: nobody may use userfaultfd here`);
  let t: Target | undefined;
  try {
    t = await startTarget('glibc', { asNobody: true });
    const r = await forkall(['unfork', '-p', String(t.pid), '--call', 'print_token', '--arg', 'x'], true);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, /userfaultfd is not permitted.*vm\.unprivileged_userfaultfd=1.*\/dev\/userfaultfd.*--user-mode-only/);
    const ok = await forkall(['unfork', '-p', String(t.pid), '--user-mode-only', '--call', 'print_token', '--arg', 'x'], true);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, new RegExp(`^xtoken=${t.token}$`, 'm'));
  } finally {
    stop(t);
  }
});

test('run as root, the called code takes on the target user\'s credentials; a target its own user cannot read is refused', { timeout: 120_000 }, async (ctx) => {
  if (process.getuid?.() !== 0 || !haveSetpriv) return ctx.skip('needs root and setpriv to run a target as nobody');
  let t: Target | undefined;
  let s: Target | undefined;
  try {
    t = await startTarget('glibc', { asNobody: true });
    const r = await forkall(['unfork', '-p', String(t.pid), '--call', 'print_ids', '--arg', 'ids:']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ids:uid=65534 euid=65534 gid=65534$/m);
    s = await startTarget('glibc', { asNobody: true, args: ['--undumpable'] });
    const d = await forkall(['unfork', '-p', String(s.pid), '--call', 'print_ids', '--arg', 'ids:']);
    assert.equal(d.code, 7, d.stderr + d.stdout);
    assert.match(d.stderr, /cannot be read by its own user \(it is not dumpable/);
  } finally {
    stop(t);
    stop(s);
  }
});

test('errors: no ptrace-read permission on the target (nobody importing a root process)', { timeout: 120_000 }, async (ctx) => {
  if (process.getuid?.() !== 0 || !haveSetpriv) return ctx.skip('needs root and setpriv to run as nobody');
  if (closedToOthers()) return ctx.skip(`nobody cannot run forkall from this checkout: ${closedToOthers()} is closed to other users (e.g. a mktemp -d directory)`);
  let t: Target | undefined;
  try {
    t = await startTarget('glibc');
    const r = await forkall(['unfork', '-p', String(t.pid), '--call', 'print_token', '--arg', 'x'], true);
    assert.equal(r.code, 7, r.stderr);
    assert.match(r.stderr, new RegExp(`cannot read the memory of PID ${t.pid}.*ptrace-read permission`));
  } finally {
    stop(t);
  }
});
