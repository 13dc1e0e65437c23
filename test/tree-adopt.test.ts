// cloneAsChildOf (src/remote/tree/adopt.ts) on real python3 processes: the
// copy of a child C, made a child of the copy X of C's parent P, must be an
// image of C (memory, descriptors, signal handlers, threads, layout), while
// P and C run on untouched. (a) C forked without exec and changed 1 MB of
// P's 64 MB; (b) C exec'd a new python3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { waitForExit } from '../src/remote/wait-exit.js';
import type { TracedTask } from '../src/remote/task.js';
import { cloneAsChildOf, type AdoptedCopy } from '../src/remote/tree/adopt.js';
import { readFullMaps } from '../src/remote/tree/adopt-maps.js';
import { sameOpenFile } from '../src/remote/tree/adopt-fds.js';
import { buildCopy, forkCopy, Held } from './helpers/adopt-freeze.js';
import { have, heldThreads, taskCount } from './helpers/programs.js';
import { waitFor } from './helpers/wait.js';

const fixture = join(packageRoot, 'test', 'fixtures', 'py_adopt.py');
const statusLine = (pid: number, name: string) => readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
const ppid = (pid: number) => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);

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

async function kill(pids: (number | undefined)[]) {
  for (const p of pids) if (p) try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
  for (const p of pids) if (p) await waitForExit(p);
}

function lines(child: ChildProcess): () => string[] {
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return () => out.split('\n');
}

async function adoptScenario(mode: 'fork' | 'exec', expectMem: string) {
  const dir = mkdtempSync(join(tmpdir(), 'forkall-adopt-'));
  const p = spawn('python3', [fixture, mode, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
  const out = lines(p);
  let P = p.pid!, C = 0, X = 0, C2 = 0;
  let hp: Held | undefined, hc: Held | undefined;
  const built: TracedTask[] = []; // the parent's copy's threads
  const builtC: TracedTask[] = []; // the child's copy's
  try {
    const up = await waitFor('parent and child up', () => {
      const l = out();
      const m = l.map((s) => /^up parent (\d+) child=(\d+)/.exec(s)).find(Boolean);
      return m && l.includes(`up child ${m[2]}`) && m;
    });
    P = Number(up[1]);
    C = Number(up[2]);
    const threads = taskCount(C);
    hp = Held.hold(P);
    hc = Held.hold(C);
    const x = forkCopy(hp);
    X = x.pid;
    let a: AdoptedCopy<Held>;
    const t0 = performance.now();
    try {
      a = cloneAsChildOf(x, hc);
    } finally {
      hc.release();
      hp.release();
    }
    const adoptMs = performance.now() - t0;
    C2 = a.pid;
    const bx = buildCopy(x, hp, built);
    const bc = a.build(builtC);
    for (const t of [...bc.tasks, ...bx.tasks]) assert.ok(t.release(), `thread ${t.tid} let go`);
    const s = a.stats;
    console.log(`# ${mode}: RSS+swap of C ${s.sourcePages} pages, copied ${s.pagesCopied}, dropped ${s.pagesDropped}, mappings kept ${s.mappingsKept} made ${s.mappingsMade}, fds kept ${s.fdsKept} installed ${s.fdsInstalled}, signals ${s.signalsSet}, calls ${s.callsInCopy} in copy ${s.callsInSource} in C, ${adoptMs.toFixed(1)} ms, phases ${JSON.stringify(s.phasesUs)} memory ${JSON.stringify(s.memoryUs)}`);

    assert.equal(ppid(C2), X, `the copy ${C2} of ${C} is a child of ${X}, the copy of ${P}`);
    assert.equal(bc.tasks.length, threads, 'threads built');
    assert.equal(taskCount(C2), threads, `threads in /proc/${C2}/task`);
    const want = `clone child ${C2} threads=${threads} mem=${expectMem} file=child-file host=adopt-child`;
    await waitFor(`"${want}"`, () => out().includes(want), 30_000).catch(() => assert.fail(`no "${want}" in:\n${out().join('\n')}`));
    await waitFor(`the copy ${X} of the parent running`, () => out().includes(`clone parent ${X}`), 30_000);
    process.kill(C2, 'SIGUSR1');
    await waitFor(`the copy's own SIGUSR1 handler`, () => out().includes(`usr1 ${C2} mem=${expectMem}`), 30_000);
    process.kill(C, 'SIGUSR1');
    await waitFor(`the original child's handler`, () => out().includes(`usr1 ${C} mem=${expectMem}`), 30_000);
    const [lc, lc2] = [layout(C), layout(C2)];
    const missing = lc.filter((l) => !lc2.includes(l));
    const extra = lc2.filter((l) => !lc.includes(l));
    assert.deepEqual({ missing, extra }, { missing: [], extra: [] }, `/proc/${C2}/maps differs from /proc/${C}/maps`);
    assert.equal(readlinkSync(`/proc/${C2}/exe`), readlinkSync(`/proc/${C}/exe`), 'executable');
    assert.equal(readFileSync(`/proc/${C2}/cmdline`, 'utf8'), readFileSync(`/proc/${C}/cmdline`, 'utf8'), 'cmdline (arg area and mm fields)');
    const fds = (pid: number) => readdirSync(`/proc/${pid}/fd`).map(Number).sort((a, b) => a - b);
    assert.deepEqual(fds(C2), fds(C), 'descriptor numbers');
    for (const fd of fds(C)) assert.ok(sameOpenFile(C, fd, C2, fd), `descriptor ${fd}: the copy shares C's open file (as a fork of C would)`);
    for (const f of ['SigCgt', 'SigIgn', 'SigBlk', 'Umask', 'NoNewPrivs', 'Cpus_allowed_list']) assert.equal(statusLine(C2, f), statusLine(C, f), f);
    assert.equal(readlinkSync(`/proc/${C2}/ns/uts`), readlinkSync(`/proc/${C}/ns/uts`), 'UTS namespace');
    assert.equal(readlinkSync(`/proc/${C2}/cwd`), readlinkSync(`/proc/${C}/cwd`), 'working directory');
    assert.deepEqual(heldThreads(P), [], 'P left stopped or traced');
    assert.deepEqual(heldThreads(C), [], 'C left stopped or traced');
    assert.equal(ppid(C), P, 'C is still P\'s child');
    return s;
  } finally {
    hp?.release();
    hc?.release();
    await kill([C2, X, C, P]);
    for (const t of [...built, ...builtC]) t.detached = true;
    rmSync(dir, { recursive: true, force: true });
  }
}

test('a child forked without exec: its copy under the parent\'s copy gets only the pages it changed', { skip: !have('python3') && 'python3 missing', timeout: 180_000 }, async () => {
  const s = await adoptScenario('fork', '7,1');
  // 64 MB (16384 pages) shared with P: only C's own 1 MB (256 pages) and the interpreter's churn are copied
  assert.ok(s.sourcePages > 16384, `C's resident pages ${s.sourcePages}`);
  assert.ok(s.pagesCopied < s.sourcePages / 4, `copied ${s.pagesCopied} of ${s.sourcePages} pages`);
  assert.ok(s.pagesCopied >= 256, `C's changed megabyte must be copied (copied ${s.pagesCopied})`);
});

test('a child that exec\'d another program: everything C owns is made anew', { skip: !have('python3') && 'python3 missing', timeout: 180_000 }, async () => {
  const s = await adoptScenario('exec', '7,3');
  assert.ok(s.mappingsMade > 0, 'mappings made');
  assert.ok(s.pagesCopied >= 1024, `C's 4 MB buffer copied (copied ${s.pagesCopied})`);
});
