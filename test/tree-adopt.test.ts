// cloneAsChildOf (src/remote/tree/adopt.ts) on real python3 processes: the
// copy of a child C, made a child of the copy X of C's parent P, must be an
// image of C (memory, descriptors, signal handlers, namespaces, threads,
// layout), while P and C run on untouched. (a) C forked without exec, changed
// 1 MB of P's 64 MB and dropped another; (b) C exec'd another python3; (c) a
// grandchild G, copied under C's copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { waitForExit } from '../src/remote/wait-exit.js';
import type { TracedTask } from '../src/remote/task.js';
import { cloneAsChildOf, type AdoptedCopy, type AdoptParent, type AdoptStats } from '../src/remote/tree/adopt.js';
import { readFullMaps } from '../src/remote/tree/adopt-maps.js';
import { sameOpenFile } from '../src/remote/tree/adopt-fds.js';
import { buildCopy, forkCopy, Held } from './helpers/adopt-freeze.js';
import { have, heldThreads, taskCount } from './helpers/programs.js';
import { waitFor } from './helpers/wait.js';

const fixture = join(packageRoot, 'test', 'fixtures', 'py_adopt.py');
const statusLine = (pid: number, name: string) => readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
const ppid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);

/**
 * A process's layout with adjacent mappings of the same kind joined: the
 * kernel merges mappings made side by side in the copy that stayed apart in C
 * (the boundary is C's history, not its layout).
 */
function layout(pid: number): string[] {
  const out: { start: bigint; end: bigint; perms: string; offset: bigint; id: string }[] = [];
  for (const m of readFullMaps(pid)) {
    const id = `${m.dev} ${m.inode} ${m.path}`;
    const last = out[out.length - 1];
    if (last && last.end === m.start && last.perms === m.perms && last.id === id && (m.inode === 0 || last.offset + (last.end - last.start) === m.offset)) last.end = m.end;
    else out.push({ start: m.start, end: m.end, perms: m.perms, offset: m.offset, id });
  }
  return out.map((m) => `${m.start.toString(16)}-${m.end.toString(16)} ${m.perms} ${m.offset.toString(16)} ${m.id}`);
}

async function kill(pids: number[]) {
  for (const p of pids) if (p) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  for (const p of pids) if (p) await waitForExit(p);
}

function lines(child: ChildProcess): () => string[] {
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return () => out.split('\n');
}

const describe = (what: string, s: AdoptStats, ms: number) =>
  `# ${what}: RSS+swap of C ${s.sourcePages} pages, copied ${s.pagesCopied}, dropped ${s.pagesDropped}, mappings kept ${s.mappingsKept} made ${s.mappingsMade}, fds kept ${s.fdsKept} installed ${s.fdsInstalled}, signals ${s.signalsSet}, namespaces ${s.namespacesJoined}, calls ${s.callsInCopy} in copy ${s.callsInSource} in C, ${ms.toFixed(1)} ms, phases ${JSON.stringify(s.phasesUs)} memory ${JSON.stringify(s.memoryUs)}`;

/** The copy `c` of `orig` (role `role`) against the original, while both run. */
async function compare(out: () => string[], role: string, orig: number, c: number, parentCopy: number, threads: number, expectMem: string) {
  assert.equal(ppid(c), parentCopy, `the copy ${c} of ${orig} is a child of ${parentCopy}`);
  assert.equal(taskCount(c), threads, `threads in /proc/${c}/task`);
  const want = `clone ${role} ${c} threads=${threads} mem=${expectMem} file=child-file host=adopt-child shm=c-shm!`;
  await waitFor(`"${want}"`, () => out().includes(want), 30_000).catch(() => assert.fail(`no "${want}" in:\n${out().join('\n')}`));
  process.kill(c, 'SIGUSR1');
  await waitFor(`the copy's own SIGUSR1 handler`, () => out().includes(`usr1 ${c} mem=${expectMem} shm=copied`), 30_000);
  process.kill(orig, 'SIGUSR1');
  // the copy wrote "copied" in the shared anonymous page it shares with the original
  await waitFor(`the original's handler`, () => out().includes(`usr1 ${orig} mem=${expectMem} shm=copied`), 30_000);
  assert.equal(readlinkSync(`/proc/${c}/exe`), readlinkSync(`/proc/${orig}/exe`), 'executable');
  assert.equal(readFileSync(`/proc/${c}/cmdline`, 'utf8'), readFileSync(`/proc/${orig}/cmdline`, 'utf8'), 'cmdline (arg area and mm fields)');
  assert.deepEqual(fds(c), fds(orig), 'descriptor numbers');
  assert.ok(fds(c).includes(3000), 'descriptor 3000, above the parent\'s RLIMIT_NOFILE');
  assert.equal(readFileSync(`/proc/${c}/limits`, 'utf8'), readFileSync(`/proc/${orig}/limits`, 'utf8'), 'resource limits');
  for (const fd of fds(orig)) assert.ok(sameOpenFile(orig, fd, c, fd), `descriptor ${fd}: the copy shares the original's open file (as a fork of it would)`);
  for (const f of ['SigCgt', 'SigIgn', 'SigBlk', 'Umask', 'NoNewPrivs', 'Cpus_allowed_list']) assert.equal(statusLine(c, f), statusLine(orig, f), f);
  assert.equal(readlinkSync(`/proc/${c}/ns/uts`), readlinkSync(`/proc/${orig}/ns/uts`), 'UTS namespace');
  assert.equal(readlinkSync(`/proc/${c}/cwd`), readlinkSync(`/proc/${orig}/cwd`), 'working directory');
  assert.deepEqual(heldThreads(orig), [], `${orig} left stopped or traced`);
}

/** /proc/PID/smaps_rollup in kB. */
function rollup(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const m of readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8').matchAll(/^(\w+):\s+(\d+) kB/gm)) out[m[1]!] = Number(m[2]);
  return out;
}

async function adoptScenario(mode: 'fork' | 'exec' | 'chain', expectMem: string): Promise<(AdoptStats & { rollup: Record<string, number> })[]> {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-adopt-'));
  const p = spawn('python3', [fixture, mode, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = lines(p);
  const pids: number[] = [p.pid!];
  const held: Held[] = [];
  const built: TracedTask[][] = [];
  try {
    const up = await waitFor('parent and child up', () => {
      const l = out();
      const m = l.map((s) => /^up parent (\d+) child=(\d+)/.exec(s)).find(Boolean);
      const g = l.map((s) => /^grandchild (\d+)/.exec(s)).find(Boolean);
      return m && l.includes(`up child ${m[2]}`) && (mode !== 'chain' || (g && l.includes(`up grand ${g[1]}`))) && [Number(m[1]), Number(m[2]), Number(g?.[1] ?? 0)];
    });
    const [P, C, G] = up;
    pids.push(P, C, ...(G ? [G] : []));
    const originals = G ? [P, C, G] : [P, C];
    const threads = originals.map(taskCount);
    for (const o of originals) held.push(Held.hold(o));
    const copies: AdoptParent[] = [];
    const adopted: AdoptedCopy<Held>[] = [];
    const times: number[] = [];
    const layoutDiffs: { of: string; missing: string[]; extra: string[] }[] = [];
    const rollups: Record<string, number>[] = []; // each copy's memory, as made (before it runs)
    try {
      copies.push(forkCopy(held[0]!));
      pids.push(copies[0]!.pid);
      for (let i = 1; i < held.length; i++) {
        const t0 = performance.now();
        const a = cloneAsChildOf(copies[i - 1]!, held[i]!);
        a.settle(); // its pages copied while C is held
        times.push(performance.now() - t0);
        // the layouts compared while C is held and its copy not yet run (both change as they run)
        const [lo, lc] = [layout(held[i]!.pid), layout(a.pid)];
        rollups.push(rollup(a.pid));
        layoutDiffs.push({ of: `/proc/${a.pid}/maps vs /proc/${held[i]!.pid}/maps`, missing: lo.filter((l) => !lc.includes(l)), extra: lc.filter((l) => !lo.includes(l)) });
        pids.push(a.pid);
        adopted.push(a);
        copies.push(a);
      }
    } finally {
      for (const h of [...held].reverse()) h.release();
    }
    built.push([]);
    const all = [buildCopy(copies[0]!, held[0]!, built[0]!), ...adopted.map((a) => {
      built.push([]);
      return a.build(built[built.length - 1]!);
    })];
    for (const b of [...all].reverse()) for (const t of b.tasks) assert.ok(t.release(), `thread ${t.tid} of ${b.pid} let go`);
    adopted.forEach((a, i) => console.log(`${describe(`${mode} ${i ? 'grandchild' : 'child'}`, a.stats, times[i]!)}; the copy as made: Rss ${rollups[i]!.Rss} kB, Shared_Dirty ${rollups[i]!.Shared_Dirty} kB, Private_Dirty ${rollups[i]!.Private_Dirty} kB`));
    for (const d of layoutDiffs) assert.deepEqual({ missing: d.missing, extra: d.extra }, { missing: [], extra: [] }, d.of);
    await waitFor(`the copy ${copies[0]!.pid} of the parent running`, () => out().includes(`clone parent ${copies[0]!.pid}`), 30_000);
    for (let i = 1; i < originals.length; i++) {
      assert.equal(all[i]!.tasks.length, threads[i], `threads built in the copy of ${originals[i]}`);
      await compare(out, i === 1 ? 'child' : 'grand', originals[i]!, copies[i]!.pid, copies[i - 1]!.pid, threads[i]!, expectMem);
    }
    assert.deepEqual(heldThreads(P), [], 'P left stopped or traced');
    assert.equal(ppid(C), P, 'C is still P\'s child');
    if (G) assert.equal(ppid(G), C, 'G is still C\'s child');
    return adopted.map((a, i) => ({ ...a.stats, rollup: rollups[i]! }));
  } finally {
    for (const h of held) h.release();
    await kill(pids.reverse());
    for (const b of built) for (const t of b) t.detached = true;
    rmSync(dir, { recursive: true, force: true });
  }
}

const skip = !have('python3') && 'python3 missing';

test('a child forked without exec: its copy under the parent\'s copy gets only the pages it changed', { skip, timeout: 180_000 }, async () => {
  const [s] = await adoptScenario('fork', '7,1,0');
  // 64 MB (16384 pages) shared with P: only C's own 1 MB (256 pages) and the interpreter's churn are copied
  assert.ok(s!.sourcePages > 16384, `C's resident pages ${s!.sourcePages}`);
  assert.ok(s!.pagesCopied < s!.sourcePages / 4, `copied ${s!.pagesCopied} of ${s!.sourcePages} pages`);
  assert.ok(s!.pagesCopied >= 256, `C's changed megabyte must be copied (copied ${s!.pagesCopied})`);
  assert.ok(s!.pagesDropped >= 256, `the megabyte C dropped must be dropped in the copy (dropped ${s!.pagesDropped})`);
  // and the copy shares the rest copy-on-write: its private memory is what was copied, not its RSS
  assert.ok(s!.rollup.Private_Dirty! < s!.rollup.Rss! / 4, `the copy's private dirty memory ${s!.rollup.Private_Dirty} kB of ${s!.rollup.Rss} kB resident`);
});

test('a child that exec\'d another program: everything C owns is made anew', { skip, timeout: 180_000 }, async () => {
  const [s] = await adoptScenario('exec', '7,3,0');
  assert.ok(s!.mappingsMade > 0, 'mappings made');
  assert.ok(s!.pagesCopied >= 768, `C's 4 MB buffer (less the dropped MB) copied (copied ${s!.pagesCopied})`);
});

test('a grandchild: its copy is made under the child\'s copy, itself made under the parent\'s', { skip, timeout: 180_000 }, async () => {
  const stats = await adoptScenario('chain', '7,1,0');
  assert.equal(stats.length, 2);
});

/** Holds P and C of `mode` and the one-thread copy X of P; runs `body`; then gives everything back and kills it. */
async function withHeldPair(mode: string, body: (x: AdoptParent, c: Held, out: () => string[]) => void | Promise<void>, extra: string[] = []) {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-adopt-'));
  const p = spawn('python3', [fixture, mode, dir, ...extra], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = lines(p);
  const pids: number[] = [p.pid!];
  const held: Held[] = [];
  try {
    const m = await waitFor('parent and child up', () => {
      const l = out();
      const m = l.map((s) => /^up parent (\d+) child=(\d+)/.exec(s)).find(Boolean);
      return m && l.includes(`up child ${m[2]}`) && m;
    });
    const [P, C] = [Number(m[1]), Number(m[2])];
    pids.push(P, C);
    held.push(Held.hold(P), Held.hold(C));
    const x = forkCopy(held[0]!);
    pids.push(x.pid);
    await body(x, held[1]!, out);
    for (const h of held) h.release();
    assert.deepEqual([...heldThreads(P), ...heldThreads(C)], [], 'originals left stopped or traced');
    assert.equal(ppid(C), P, 'C is still P\'s child');
  } finally {
    for (const h of held) h.release();
    await kill(pids.reverse());
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The copy's children that are not zombies (a copy killed on failure stays X's zombie until X runs). */
const allChildren = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
const liveChildren = (pid: number) => allChildren(pid).filter((c) => !/\) Z /.test(readFileSync(`/proc/${c}/stat`, 'utf8')));

test('a child with more privilege than its parent (the parent became nobody, the child stayed root) is refused, naming it; nothing is forked', { skip, timeout: 120_000 }, async () => {
  await withHeldPair('rootchild', (x, c) => {
    assert.throws(() => cloneAsChildOf(x, c), (e: Error & { code?: string }) => e.code === 'not-supported' && e.message.includes(`PID ${c.pid}`) && /other credentials/.test(e.message));
    assert.deepEqual(liveChildren(x.pid), [], 'no copy was forked');
  });
});

test('abandoning after the fork kills the half-made copy and leaves C as it was', { skip, timeout: 120_000 }, async () => {
  await withHeldPair('fork', (x, c) => {
    let checks = 0;
    assert.throws(() => cloneAsChildOf(x, c, { shouldAbort: () => ++checks >= 2 }), /abandoned/);
    assert.deepEqual(liveChildren(x.pid), [], 'the half-made copy is dead');
    assert.equal(allChildren(x.pid).length, 1, 'it was forked (abandoned after the fork): its zombie waits for X');
  });
});

/** Builds test/fixtures/adopt_prog.c with `cc` (extra flags) into a temporary directory. */
function buildProg(cc: string, flags: string[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-adopt-prog-'));
  const exe = join(dir, 'adopt_prog');
  const r = spawnSync(cc, ['-O1', ...flags, '-o', exe, join(packageRoot, 'test', 'fixtures', 'adopt_prog.c'), '-lpthread'], { encoding: 'utf8' });
  assert.equal(r.status, 0, `${cc} failed: ${r.stderr}`);
  return exe;
}

for (const [cc, flags, what] of [['musl-gcc', ['-static'], 'static musl'], ['gcc', [], 'dynamic glibc']] as const) {
  test(`a child that exec'd a ${what} C program with threads`, { skip: (!have('python3') || !have(cc)) && `python3 or ${cc} missing`, timeout: 180_000 }, async () => {
    const exe = buildProg(cc, [...flags]);
    try {
      await withHeldPair('prog', async (x, c, out) => {
        const threads = taskCount(c.pid);
        const t0 = performance.now();
        const a = cloneAsChildOf(x, c);
        a.settle(); // its pages copied while C is held
        const ms = performance.now() - t0;
        const [lo, lc] = [layout(c.pid), layout(a.pid)];
        console.log(describe(`${what} program`, a.stats, ms));
        c.release();
        const b = a.build([]);
        for (const t of b.tasks) assert.ok(t.release(), `thread ${t.tid} let go`);
        try {
          assert.deepEqual({ missing: lo.filter((l) => !lc.includes(l)), extra: lc.filter((l) => !lo.includes(l)) }, { missing: [], extra: [] }, 'layout');
          assert.equal(ppid(a.pid), x.pid, 'a child of the parent\'s copy');
          assert.equal(taskCount(a.pid), threads, 'threads');
          await waitFor('the copy says so', () => out().includes(`clone cprog ${a.pid} heap=5`), 30_000);
          process.kill(a.pid, 'SIGUSR1');
          await waitFor('its SIGUSR1 handler', () => out().includes(`usr1 ${a.pid} heap=5`), 30_000);
          process.kill(c.pid, 'SIGUSR1');
          await waitFor('the original\'s', () => out().includes(`usr1 ${c.pid} heap=5`), 30_000);
          assert.equal(readlinkSync(`/proc/${a.pid}/exe`), readlinkSync(`/proc/${c.pid}/exe`), 'executable');
        } finally {
          await kill([a.pid]);
        }
      }, [exe]);
    } finally {
      rmSync(join(exe, '..'), { recursive: true, force: true });
    }
  });
}
