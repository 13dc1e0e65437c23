// For test/tree-adopt.test.ts: hold a process as the tree orchestrator holds a
// member (every thread seized, its state read, calls protected by return
// frames), fork its one-thread copy (a sibling, as the root's copy), and
// build a copy's threads. Only what the test needs to drive cloneAsChildOf
// on its own; the product's versions are the tree orchestrator's.
import * as pt from '../../src/remote/ptrace.js';
import { captureThreads, type ThreadState } from '../../src/remote/capture.js';
import { readCapState } from '../../src/remote/caps.js';
import { ProcessMemory } from '../../src/remote/memory.js';
import { reg } from '../../src/remote/regs.js';
import { discoverLayout, type LibcLayout } from '../../src/remote/libc-layout.js';
import { restoreThreads } from '../../src/remote/restore.js';
import { seizeAll } from '../../src/remote/seize.js';
import { findSyscallInsn, readMaps, type Mapping } from '../../src/remote/syscall-insn.js';
import { findReturnPath, ReturnFrames } from '../../src/remote/return-frame.js';
import { injectFork, buildClone, type BuiltClone } from '../../src/remote/recreate.js';
import { RemoteError } from '../../src/remote/errors.js';
import { TracedTask } from '../../src/remote/task.js';
import { withRsp } from '../../src/remote/tree/adopt-calls.js';
import type { AdoptParent, AdoptSource } from '../../src/remote/tree/adopt.js';

export class Held implements AdoptSource {
  readonly firstRegs = new Map<number, Buffer>();
  readonly callBase = new Map<number, Buffer>();
  readonly mem: ProcessMemory;
  maps: Mapping[] = [];
  states: ThreadState[] = [];
  insn = 0n;
  callStack = 0n;
  layout?: LibcLayout;
  frames?: ReturnFrames;
  private released = false;

  constructor(readonly pid: number, readonly tasks: TracedTask[]) {
    this.mem = new ProcessMemory(pid);
  }

  static hold(pid: number): Held {
    const h = new Held(pid, seizeAll(pid, (e) => new RemoteError(e.message, 'denied')));
    try {
      for (const t of h.tasks) h.firstRegs.set(t.tid, pt.getRegs(t.tid));
      h.maps = readMaps(pid);
      const path = findReturnPath(h.maps, h.mem);
      h.insn = path?.gadget ?? findSyscallInsn(h.maps, h.mem);
      if (path) h.frames = new ReturnFrames(h.mem, path);
      for (const t of h.tasks) {
        const regs = h.firstRegs.get(t.tid)!;
        h.callBase.set(t.tid, h.frames ? h.frames.protect(regs, pt.getSigmask(t.tid), pt.getXstate(t.tid)) : regs);
      }
      h.callStack = (reg(h.firstRegs.get(pid)!, 'rsp') - 4096n) & ~63n;
      h.states = captureThreads(h.tasks, h.firstRegs, h.mem, h.insn, h.callBase);
      for (const s of h.states) s.caps = readCapState(pid, s.tid);
      h.layout = discoverLayout(pid, h.mem, h.maps, h.states.map((s) => ({ tid: s.tid, fsBase: reg(s.regs, 'fs_base'), clearChildTid: s.clearChildTid, robustHead: s.robust.head })));
      for (const s of h.states) s.tidField = h.layout.tidField.get(s.tid) ?? 0n;
      return h;
    } catch (e) {
      h.release();
      throw e;
    }
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      restoreThreads(this.tasks, (t) => this.firstRegs.get(t.tid));
      this.frames?.restoreMemory();
    } finally {
      for (const t of this.tasks) t.release();
      this.mem.close();
    }
  }
}

/** The held process's one-thread copy, a sibling of it (as the root's copy of a tree), stopped and traced. */
export function forkCopy(h: Held): AdoptParent {
  const f = h.states[0]!;
  const pid = injectFork(h.tasks[0]!, f, h.insn, h.callBase.get(h.pid)!, h.frames?.childStack(h.callBase.get(h.pid)!) ?? 0n);
  const main = new TracedTask(pid, pid);
  main.waitEventStop();
  pt.setOptions(pid, pt.OPT.EXITKILL | pt.OPT.TRACESYSGOOD);
  return { pid, main, base: withRsp(f.regs, h.callStack), insn: h.insn };
}

/** Makes the held process's other threads in its copy (which ran injected calls since its first stop). */
export function buildCopy(copy: AdoptParent, h: Held, built: TracedTask[]): BuiltClone {
  pt.interrupt(copy.pid);
  pt.cont(copy.pid);
  return buildClone(copy.pid, h.states[0]!, h.states.slice(1), { insn: h.insn, maps: h.maps, callStack: h.callStack, dontFork: [], layout: h.layout!, restoreStacks: h.frames && ((m) => h.frames!.restoreInto(m)) }, built);
}
