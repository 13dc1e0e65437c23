// One live process of a tree, held: every thread seized and its state read,
// exactly as the one-process engine (clone-process.ts) reads it before its
// fork, kept until every copy of the tree is forked. `release` gives the
// original back whole (registers, return frames, MADV_DONTFORK marks) and
// detaches; it is idempotent, so every error path can call it.
import * as pt from '../ptrace.js';
import { captureThreads, type ThreadState } from '../capture.js';
import { readCapState } from '../caps.js';
import { ProcessMemory } from '../memory.js';
import { diagnoseDenied } from '../preflight.js';
import { reg } from '../regs.js';
import { discoverLayout, type LibcLayout } from '../libc-layout.js';
import { restoreThreads } from '../restore.js';
import { seizeAll } from '../seize.js';
import { readSecurity, refusal } from '../refusals.js';
import { markDontFork, type Range } from '../dontfork.js';
import { findSyscallInsn, holdsStackPointer, readMaps, type Mapping } from '../syscall-insn.js';
import { findReturnPath, ReturnFrames } from '../return-frame.js';
import { abortRseqSection } from '../rseq-cs.js';
import { planPrivateFds } from '../private/snapshot-fds.js';
import type { EarlyFdState } from '../private/snapshot-socketpairs.js';
import type { PrivatePlan } from '../private/plan.js';
import type { TracedTask } from '../task.js';

/** A thread was on its way out (stack already unmapped): give the tree back and try again. */
export class MemberThreadExiting extends Error {
  constructor(readonly pid: number, readonly tid: number) {
    super(`thread ${tid} of PID ${pid} was exiting (its stack already unmapped)`);
  }
}

export class FrozenMember {
  /** the original threads, leader first, stopped under us */
  readonly tasks: TracedTask[];
  /** each thread's registers as seized (rseq aborts applied) */
  readonly firstRegs = new Map<number, Buffer>();
  /** what calls injected into each original thread start from (return-frame.ts) */
  readonly callBase = new Map<number, Buffer>();
  frames?: ReturnFrames;
  insn = 0n;
  readonly mem: ProcessMemory;
  maps: Mapping[] = [];
  states: ThreadState[] = [];
  layout?: LibcLayout;
  /** private event objects, when asked for */
  fdPlan?: PrivatePlan;
  /** the stack an injected fork gives its child (an orphaned copy exits at once) */
  childStack = 0n;
  /** a stack pointer the copy's injected calls use (no memory is touched there) */
  callStack = 0n;
  /** MADV_DONTFORK ranges cleared in the original for its fork (marked again on release) */
  dontFork: Range[] = [];
  dontForkCleared = false;
  private released = false;

  private constructor(readonly pid: number, tasks: TracedTask[]) {
    this.tasks = tasks;
    this.mem = new ProcessMemory(pid);
  }

  get forker(): TracedTask {
    return this.tasks[0]!;
  }

  get forkerBase(): Buffer {
    return this.callBase.get(this.forker.tid)!;
  }

  /** Seizes every thread of `pid` and reads everything a copy needs; on any failure the process is given back. */
  static freeze(pid: number, opts: { fdEarly?: EarlyFdState }): FrozenMember {
    const tasks = seizeAll(pid, (e) => diagnoseDenied(pid, e));
    let m: FrozenMember | undefined;
    try {
      m = new FrozenMember(pid, tasks);
      m.capture(opts.fdEarly);
      return m;
    } catch (e) {
      if (m) m.release();
      else for (const t of tasks) t.release();
      throw e;
    }
  }

  private capture(fdEarly: EarlyFdState | undefined): void {
    const pid = this.pid;
    for (const t of this.tasks) this.firstRegs.set(t.tid, pt.getRegs(t.tid));
    const refused = refusal(pid, this.tasks.map((t) => readSecurity(pid, t.tid)));
    if (refused) throw refused;
    this.maps = readMaps(pid);
    for (const t of this.tasks) {
      const sp = reg(this.firstRegs.get(t.tid)!, 'rsp');
      if (!holdsStackPointer(this.maps, sp)) throw new MemberThreadExiting(pid, t.tid);
    }
    for (const t of this.tasks) {
      const moved = abortRseqSection(this.mem, this.firstRegs.get(t.tid)!, pt.getRseq(t.tid));
      if (moved) this.firstRegs.set(t.tid, moved);
    }
    const path = findReturnPath(this.maps, this.mem);
    this.insn = path?.gadget ?? findSyscallInsn(this.maps, this.mem);
    if (path) this.frames = new ReturnFrames(this.mem, path);
    for (const t of this.tasks) {
      const regs = this.firstRegs.get(t.tid)!;
      this.callBase.set(t.tid, this.frames ? this.frames.protect(regs, pt.getSigmask(t.tid), pt.getXstate(t.tid)) : regs);
    }
    this.childStack = this.frames?.childStack(this.forkerBase) ?? 0n;
    this.callStack = (reg(this.firstRegs.get(this.forker.tid)!, 'rsp') - 4096n) & ~63n;
    this.states = captureThreads(this.tasks, this.firstRegs, this.mem, this.insn, this.callBase);
    for (const s of this.states) s.caps = readCapState(pid, s.tid);
    this.layout = discoverLayout(pid, this.mem, this.maps, this.states.map((s) => ({ tid: s.tid, fsBase: reg(s.regs, 'fs_base'), clearChildTid: s.clearChildTid, robustHead: s.robust.head })));
    for (const s of this.states) s.tidField = this.layout.tidField.get(s.tid) ?? 0n;
    if (this.layout.ownerListOffset > 0)
      for (const s of this.states) if (!s.ownerList && reg(s.regs, 'fs_base')) s.ownerList = reg(s.regs, 'fs_base') + BigInt(this.layout.ownerListOffset);
    if (fdEarly) this.fdPlan = planPrivateFds(pid, fdEarly);
  }

  /** Gives the original back exactly as it was and detaches every thread (once). */
  release(): void {
    if (this.released) return;
    this.released = true;
    try {
      if (this.dontForkCleared) markDontFork(this.forker, this.insn, this.forkerBase, this.dontFork, true);
      this.dontForkCleared = false;
      restoreThreads(this.tasks, (t) => this.firstRegs.get(t.tid));
      this.frames?.restoreMemory();
    } finally {
      for (const t of this.tasks) t.release();
      this.mem.close();
    }
  }

  get isReleased(): boolean {
    return this.released;
  }
}
