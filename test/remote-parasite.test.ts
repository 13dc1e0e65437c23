// The remote engine's parasite (native/parasite, src/remote/parasite.ts): the
// clone's threads made by it are the original's, and it leaves nothing of
// itself in the clone; the engine's own fallback (injected calls) makes the
// same clone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { cloneProcessSync } from '../src/remote/clone-process.js';
import { parasiteBlob } from '../src/remote/parasite.js';
import { nativeArtifact } from '../src/native/paths.js';
import { spawn, type ChildProcess } from 'node:child_process';
import { killAndWait } from './helpers/kill-wait.js';

const THREADS = 12;

const mappings = (pid: number): string[] =>
  readFileSync(`/proc/${pid}/maps`, 'utf8').split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(0, 2).join(' '));

/** Per thread: name and blocked signals, from /proc status. */
function threadFacts(pid: number, tid: number): { name: string; sigBlk: string } {
  const s = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8');
  return { name: /^Name:\s*(.*)$/m.exec(s)![1]!, sigBlk: /^SigBlk:\s*(.*)$/m.exec(s)![1]! };
}

/** forkall-target: `threads` threads blocked until its stdin ends; resolves once it is READY. */
function startTarget(threads: number): Promise<ChildProcess> {
  const child = spawn(nativeArtifact(join('bin', 'forkall-target')), [String(threads), '4', 'idle'], { stdio: ['pipe', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('READY')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`forkall-target exited (${code}) before it was ready`)));
  });
}


for (const parasite of [true, false]) {
  test(`${parasite ? 'parasite' : 'injected calls'}: a ${THREADS}-thread clone has every thread with its name and mask, and no mapping the original lacks`, { timeout: 120_000 }, async () => {
    if (parasite) assert.ok(parasiteBlob(), 'native/build/glibc/parasite.bin is built');
    const target = await startTarget(THREADS);
    const pid = target.pid!;
    let clonePid = 0;
    try {
      // stopped: nothing in the clone runs or maps anything before we look
      const threads = readdirSync(`/proc/${pid}/task`).length;
      assert.ok(threads >= THREADS, `the target runs ${threads} threads`);
      const r = cloneProcessSync(pid, { stopped: true, parasite });
      const c = r.clones[0]!;
      clonePid = c.pid;
      assert.equal(c.threads, threads, 'threads reported');
      assert.equal(readdirSync(`/proc/${c.pid}/task`).length, threads, `threads in /proc/${c.pid}/task`);
      const original = new Set(mappings(pid));
      const extra = mappings(c.pid).filter((m) => !original.has(m));
      assert.deepEqual(extra, [], `mappings of clone ${c.pid} that the original ${pid} lacks`);
      for (const [oldTid, newTid] of Object.entries(c.tids)) {
        assert.deepEqual(threadFacts(c.pid, newTid), threadFacts(pid, Number(oldTid)), `clone thread ${newTid} (of ${oldTid}): name and blocked signals`);
      }
    } finally {
      await killAndWait(...[clonePid, pid].filter(Boolean));
    }
  });
}
