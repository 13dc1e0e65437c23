// `forkall doctor -p PID`: what the remote engine discovers in one running
// process. It takes the engine's own path up to the capture (seize every
// thread, read its state, two injected calls per thread) and then gives every
// thread back its exact registers and lets go — as a clone does before it
// forks, without forking. The target is held for about as long as a clone holds it.
import * as pt from '../remote/ptrace.js';
import { captureThreads } from '../remote/capture.js';
import { discoverLayout, type LibcIdentity } from '../remote/libc-layout.js';
import { ProcessMemory } from '../remote/memory.js';
import { diagnoseDenied, preflight } from '../remote/preflight.js';
import { reg } from '../remote/regs.js';
import { restoreThreads } from '../remote/restore.js';
import { findReturnPath, ReturnFrames } from '../remote/return-frame.js';
import { abortRseqSection } from '../remote/rseq-cs.js';
import { seizeAll } from '../remote/seize.js';
import { findSyscallInsn, readMaps } from '../remote/syscall-insn.js';

export interface ThreadReport {
  tid: number;
  /** offset of the descriptor's TID field from the thread pointer (null: not found) */
  descTidOffset: number | null;
  /** the rseq area's offset from the thread pointer and its size (null: none registered) */
  rseq: { offset: number; size: number } | null;
  /** a robust list is registered with the kernel */
  robustList: boolean;
}

export interface ProcessReport {
  pid: number;
  libc: LibcIdentity;
  threads: ThreadReport[];
  /** musl: owner-list head offset from the thread pointer (null: none / not musl) */
  ownerListOffset: number | null;
  /** musl: list entry -> lock word (null: not needed now or not found) */
  ownerLockOffset: number | null;
  /** glibc: ld.so's writable data scanned for its locks ("start-end path") */
  ldsoLockRegions: string[];
  /** glibc: libc.so.6's writable data and .bss, where its own rwlocks (the locale lock) are looked for */
  libcRwlockRegions: string[];
  warnings: string[];
}


export function inspectProcess(pid: number): ProcessReport {
  preflight(pid);
  const tasks = seizeAll(pid, (e) => diagnoseDenied(pid, e));
  const regs = new Map<number, Buffer>();
  let mem: ProcessMemory | undefined;
  let frames: ReturnFrames | undefined;
  try {
    for (const t of tasks) regs.set(t.tid, pt.getRegs(t.tid));
    mem = new ProcessMemory(pid);
    const maps = readMaps(pid);
    // the same protections as a clone's capture: a thread inside an rseq section takes its
    // abort, and every injected call returns through a frame holding the thread's context
    for (const t of tasks) {
      const moved = abortRseqSection(mem, regs.get(t.tid)!, pt.getRseq(t.tid));
      if (moved) regs.set(t.tid, moved);
    }
    const path = findReturnPath(maps, mem);
    const insn = path?.gadget ?? findSyscallInsn(maps, mem);
    if (path) frames = new ReturnFrames(mem, path);
    const callBase = new Map<number, Buffer>();
    for (const t of tasks) {
      const r = regs.get(t.tid)!;
      callBase.set(t.tid, frames ? frames.protect(r, pt.getSigmask(t.tid), pt.getXstate(t.tid)) : r);
    }
    const states = captureThreads(tasks, regs, mem, insn, callBase);
    const layout = discoverLayout(
      pid,
      mem,
      maps,
      states.map((s) => ({ tid: s.tid, fsBase: reg(s.regs, 'fs_base'), clearChildTid: s.clearChildTid, robustHead: s.robust.head })),
      true,
    );
    return {
      pid,
      libc: layout.libc,
      threads: states.map((s) => {
        const fs = reg(s.regs, 'fs_base');
        const field = layout.tidField.get(s.tid) ?? 0n;
        return {
          tid: s.tid,
          descTidOffset: field ? Number(field - fs) : null,
          rseq: s.rseq.area ? { offset: Number(s.rseq.area - fs), size: s.rseq.size } : null,
          robustList: s.robust.head !== 0n,
        };
      }),
      ownerListOffset: layout.ownerListOffset >= 0 ? layout.ownerListOffset : null,
      ownerLockOffset: layout.ownerLockOffset ?? null,
      ldsoLockRegions: layout.ldsoRegions.map((m) => `0x${m.start.toString(16)}-0x${m.end.toString(16)} ${m.path}`),
      libcRwlockRegions: layout.libcRwRegions.map((m) => `0x${m.start.toString(16)}-0x${m.end.toString(16)} ${m.path || '(.bss)'}`),
      warnings: layout.warnings,
    };
  } finally {
    try {
      restoreThreads(tasks, (t) => regs.get(t.tid));
      frames?.restoreMemory();
    } finally {
      for (const t of tasks) t.release();
    }
    mem?.close();
  }
}
