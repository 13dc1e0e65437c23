// A tree clone's memory, byte for byte. test/fixtures/tree_memory.c builds a
// tree (a root, children, a grandchild) whose members rewrite, drop
// (MADV_DONTNEED), remap and protect pages they inherited, from a seeded
// generator; `forkall clone --tree` clones it, and every range each member
// reports is read from /proc/PID/mem of the original and of its clone and
// compared. A member's copy gets only the pages that differ from its
// parent's copy (also where the member split a mapping it inherited), most of them copied by the copy itself while the next member
// is made (src/remote/tree/page-copy.ts); a page missed, copied from the wrong
// instant or written at the wrong address shows here. A second tree runs as
// nobody, another user than the engine's (whose resource limits it may not
// set from outside without CAP_SYS_RESOURCE), cloned through the API.
// The seed is printed; FORKALL_TEST_SEED replays one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, closeSync, mkdtempSync, openSync, readSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../src/native/paths.js';
import { cloneTreeSync, type TreeCloneResult } from '../src/remote/tree/clone-tree.js';
import { cloneAsChildOf, type AdoptStats } from '../src/remote/tree/adopt.js';
import { have } from './helpers/programs.js';
import { waitForExit } from '../src/remote/wait-exit.js';

const cli = join(packageRoot, 'bin', 'forkall.js');

function build(dir: string): string {
  const out = join(dir, 'tree_memory');
  const r = spawnSync('gcc', ['-O1', '-o', out, join(packageRoot, 'test', 'fixtures', 'tree_memory.c')], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`building tree_memory failed: ${r.stderr}`);
  chmodSync(dir, 0o755);
  return out;
}

/** [start, end) of `pid`'s memory, read through /proc/PID/mem (which reads PROT_NONE pages too). */
function readMem(pid: number, start: bigint, end: bigint): Buffer {
  const fd = openSync(`/proc/${pid}/mem`, 'r');
  try {
    const b = Buffer.alloc(Number(end - start));
    let got = 0;
    while (got < b.length) {
      const n = readSync(fd, b, got, b.length - got, Number(start) + got);
      if (n <= 0) throw new Error(`short read of /proc/${pid}/mem at 0x${(start + BigInt(got)).toString(16)}`);
      got += n;
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

/** The first differing page of `a` and `b`, described, or ''. */
function firstDifference(a: Buffer, b: Buffer, start: bigint): string {
  for (let off = 0; off < a.length; off += 4096) {
    const pa = a.subarray(off, off + 4096);
    const pb = b.subarray(off, off + 4096);
    if (!pa.equals(pb)) {
      const zeros = (p: Buffer) => p.every((x) => x === 0);
      return `page 0x${(start + BigInt(off)).toString(16)}: original ${zeros(pa) ? 'zeros' : pa.subarray(0, 8).toString('hex')}..., clone ${zeros(pb) ? 'zeros' : pb.subarray(0, 8).toString('hex')}...`;
    }
  }
  return '';
}

const seed = process.env.FORKALL_TEST_SEED ? Number(process.env.FORKALL_TEST_SEED) : Math.floor(Math.random() * 2 ** 31);

interface Range {
  pid: number;
  start: bigint;
  end: bigint;
}

/**
 * Starts the fixture's tree (through `prefix`, e.g. setpriv), clones it with
 * `clone` (original PID -> clone PID per member), compares every range each
 * member reports with its clone's, and ends everything.
 */
async function cloneAndCompare(opts: { children: number; pages: number; prefix?: string[]; extra?: string[] }, clone: (root: number) => Map<number, number>): Promise<void> {
  console.log(`# seed ${seed} (FORKALL_TEST_SEED=${seed} replays it)`);
  const dir = mkdtempSync(join(tmpdir(), 'forkall-tree-memory-'));
  const argv = [...(opts.prefix ?? []), build(dir), String(seed), String(opts.children), String(opts.pages), ...(opts.extra ?? [])];
  const root = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  root.stdout!.on('data', (d) => (out += d));
  let cloneOf = new Map<number, number>();
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the tree did not start within 60 s: ${out}`)), 60_000);
      const check = () => {
        if (out.includes(`READY ${root.pid}\n`)) {
          clearTimeout(timer);
          resolve();
        }
      };
      root.stdout!.on('data', check);
      root.on('exit', (c) => reject(new Error(`tree_memory exited (${c}) before it was ready: ${out}`)));
      check();
    });
    const ranges: Range[] = [...out.matchAll(/^MEM (\d+) ([0-9a-f]+) ([0-9a-f]+)$/gm)].map((m) => ({ pid: Number(m[1]), start: BigInt('0x' + m[2]), end: BigInt('0x' + m[3]) }));
    assert.equal(new Set(ranges.map((r) => r.pid)).size, opts.children + 2, 'root, children and grandchild report their memory');
    cloneOf = clone(root.pid!);
    let bytes = 0;
    for (const g of ranges) {
      const c = cloneOf.get(g.pid);
      assert.ok(c, `PID ${g.pid} has a clone`);
      const a = readMem(g.pid, g.start, g.end);
      const b = readMem(c, g.start, g.end);
      assert.ok(a.equals(b), `PID ${g.pid} and its clone ${c} differ in 0x${g.start.toString(16)}-0x${g.end.toString(16)} (seed ${seed}): ${firstDifference(a, b, g.start)}`);
      bytes += a.length;
    }
    console.log(`# ${ranges.length} ranges, ${bytes >> 20} MB compared`);
  } finally {
    const clones = [...cloneOf.values()];
    for (const p of [...clones].reverse()) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        // gone
      }
    }
    root.kill('SIGKILL'); // its children and grandchild die with it (PR_SET_PDEATHSIG)
    await waitForExit(root.pid!);
    if (cloneOf.get(root.pid!)) await waitForExit(cloneOf.get(root.pid!)!);
    rmSync(dir, { recursive: true, force: true });
  }
}

for (const exact of [false, true])
test(`a tree clone's memory equals the originals' byte for byte${exact ? ' with --exact-tids (the engine writes every page: in the namespace C\'s PID is the copy\'s own number)' : ''} (seed ${seed})`, { skip: !have('gcc') && 'gcc missing', timeout: 300_000 }, async () => {
  await cloneAndCompare({ children: 3, pages: 4096 /* 16 MB per process */ }, (root) => {
    const r = spawnSync(process.execPath, [cli, 'clone', '-p', String(root), '--tree', ...(exact ? ['--exact-tids'] : []), '--json'], { encoding: 'utf8', timeout: 240_000 });
    assert.equal(r.status, 0, `clone --tree failed: ${r.stderr}`);
    const report = JSON.parse(r.stdout) as TreeCloneResult;
    const cloneOf = new Map(report.members.map((m) => [m.pid, m.clonePid]));
    for (const m of report.members) if (m.image) console.log(`# PID ${m.pid}: ${m.image.pagesCopied} of ${m.image.sourcePages} pages copied into its clone ${m.clonePid}`);
    // a member rewrote an eighth of its pages and split its region (mprotect, MAP_FIXED): the
    // pieces stay paired with its parent's copy, so most of its pages are shared, not copied
    for (const m of report.members)
      if (m.image) assert.ok(m.image.pagesCopied < m.image.sourcePages / 2, `PID ${m.pid}: ${m.image.pagesCopied} of ${m.image.sourcePages} pages copied (seed ${seed}); the pages it shares with its parent need no copy`);
    return cloneOf;
  });
});

test(`a tree run by nobody (another user than the engine's), with selfCopy: each copy, nobody too, copies its own pages (seed ${seed})`, { skip: (!have('gcc') && 'gcc missing') || (!have('setpriv') && 'setpriv missing'), timeout: 300_000 }, async () => {
  await cloneAndCompare({ children: 2, pages: 1024, prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] }, (root) => {
    const stats: AdoptStats[] = [];
    // --shared-fds: the tree's pipes stay shared (planting private ones from a root engine into
    // nobody's copies is refused by pidfd_getfd: not this test's subject)
    const r = cloneTreeSync(root, {
      privateFds: false,
      adopt: (parent, source, o) => {
        const c = cloneAsChildOf(parent, source, { ...o, selfCopy: true });
        stats.push(c.stats);
        return c;
      },
    });
    assert.equal(stats.length, 3, 'two children and a grandchild adopted');
    for (const s of stats) {
      console.log(`# ${JSON.stringify(s.pageCopy)}`);
      assert.equal(s.pageCopy?.fallback, undefined, 'the copy may read its original (same user, dumpable)');
      assert.ok(s.pageCopy!.pagesByCopy > 0, `the copy copied pages itself: ${JSON.stringify(s.pageCopy)}`);
    }
    return new Map(r.members.map((m) => [m.pid, m.clonePid]));
  });
});
