// Building the clone: an injected fork in one original thread (the forker)
// makes a one-thread copy of the process; injected clones in that copy make
// one thread per captured thread, each then given the captured registers,
// xstate, signal mask, robust list, rseq, signal stack, name, affinity and
// scheduling. Everything stays stopped until the caller lets it go.
import * as pt from './ptrace.js';
import { getAffinity, schedGetattr, schedSetattr, setAffinity } from './libc.js';
import { checkedChain, injectAllChecked, injectChecked, runChains } from './inject.js';
import { ProcessMemory } from './memory.js';
import { ScratchMemory } from './scratch-memory.js';
import { fixOwners, type OwnerMove } from './owners.js';
import type { LibcLayout } from './libc-layout.js';
import { reg, resumeRegs, setReg, signalStopRegs } from './regs.js';
import type { Mapping } from './syscall-insn.js';
import { TracedTask } from './task.js';
import { reenterCalls } from './reenter.js';
import { markDontFork, type Range } from './dontfork.js';
import { stackSlot, type ThreadState } from './capture.js';
import { cloneArgs as clone3Args, outerTids, scratch } from './exact.js';
import { capSteps, freshUserNamespaceCaps } from './caps.js';
import { applyCapSteps } from './caps-apply.js';
import { makeThreadsByParasite, ParasiteFailed } from './parasite.js';

const CLONE = {
  VM: 0x100,
  FS: 0x200,
  FILES: 0x400,
  SIGHAND: 0x800,
  PTRACE: 0x2000,
  PARENT: 0x8000,
  THREAD: 0x10000,
  SYSVSEM: 0x40000,
  SETTLS: 0x80000,
  PARENT_SETTID: 0x100000,
  CHILD_CLEARTID: 0x200000,
  CHILD_SETTID: 0x1000000,
} as const;
const SIGCHLD = 17;
const PR_SET_NAME = 15;

/**
 * Injects the fork into the original forker thread. CLONE_PARENT makes the
 * clone a sibling of the target (its parent reaps it; the target never sees a
 * child it did not make); CLONE_PTRACE makes it ours, stopped before its first
 * instruction. The descriptor's TID field and the clear-TID address are set
 * the way libc's own fork sets them. `base`: the forker's call registers
 * (return-frame.ts).
 */
export function injectFork(forker: TracedTask, f: ThreadState, insn: bigint, base: Buffer, childStack: bigint): number {
  return Number(injectChecked(forker, insn, base, 'clone', forkArgs(f, childStack)));
}

/** The injected fork's clone arguments (injectFork): only the forker's clear-TID address and TID field matter. */
export function forkArgs(f: Pick<ThreadState, 'clearChildTid' | 'tidField'>, childStack: bigint): (bigint | number)[] {
  let flags = CLONE.PARENT | CLONE.PTRACE | SIGCHLD;
  if (f.clearChildTid) flags |= CLONE.CHILD_CLEARTID;
  if (f.tidField && f.tidField === f.clearChildTid) flags |= CLONE.CHILD_SETTID;
  // childStack: where an orphaned child returns to (return-frame.ts); 0 keeps the forker's
  return [flags, childStack, 0, f.clearChildTid, 0];
}

export interface BuildContext {
  insn: bigint;
  maps: Mapping[];
  /** a stack pointer for injected calls, off every signal stack (the calls use no stack) */
  callStack: bigint;
  /** MADV_DONTFORK ranges of the original, marked again in the clone */
  dontFork: Range[];
  /** exact TIDs: threads are made with clone3 set_tid = their old TID (the clone is in its own PID namespace) */
  exact?: boolean;
  /** the target's libc layout (libc-layout.ts): where the lock owners to rewrite are */
  layout: LibcLayout;
  /** puts back, in the clone's memory, the original bytes under the return frames the fork copied (return-frame.ts) */
  restoreStacks?: (mem: ProcessMemory) => void;
  /** runs in the stopped one-thread copy before its threads are made (private event objects: private/install-fds.ts) */
  beforeThreads?: (main: TracedTask, base: Buffer, mem: ProcessMemory) => void;
  /** runs once every thread exists, still stopped, before their capabilities are set (the tasks: main first; `base` for calls in any of them) */
  afterThreads?: (tasks: TracedTask[], base: Buffer, mem: ProcessMemory) => void;
  /** exact TIDs: the clone is in a user namespace of its own (its capabilities start full) */
  userns?: boolean;
  /** false: make the threads by injected calls even where the parasite could (default: the parasite) */
  parasite?: boolean;
}

export interface BuiltClone {
  pid: number;
  /** the clone's threads, main first, all stopped and traced */
  tasks: TracedTask[];
  /** old TID -> new TID */
  tids: Map<number, number>;
  ownersFixed: number;
}

const sameSched = (a: Buffer, b: Buffer) => a.subarray(4, 48).equals(b.subarray(4, 48));

/** `now`: what the thread has at the moment (read if not known). */
function restoreSchedAndAffinity(tid: number, t: ThreadState, now?: ThreadState): void {
  if (!(now?.affinity ?? getAffinity(tid)).equals(t.affinity)) setAffinity(tid, t.affinity);
  if (!sameSched(now?.sched ?? schedGetattr(tid), t.sched)) {
    const attr = Buffer.from(t.sched);
    attr.writeBigUInt64LE(attr.readBigUInt64LE(8) & 1n, 8); // keep only SCHED_FLAG_RESET_ON_FORK
    attr.fill(0, 48);
    schedSetattr(tid, attr);
  }
}

/**
 * Per-thread state only the thread itself can set: one injected call each,
 * only where needed, each thread's one after another and every new thread's
 * at once. Arguments in memory go to the thread's own dead stack bytes (in
 * the clone's copy), written just before the call that reads them.
 */
function registerInThreads(tasks: TracedTask[], states: ThreadState[], inherited: { name: string }, ctx: BuildContext, mem: ProcessMemory): void {
  const chains = tasks.map((task, i) => {
    const t = states[i]!;
    const base = Buffer.from(t.regs);
    setReg(base, 'rsp', ctx.callStack); // off any signal stack, or sigaltstack() would refuse
    const slot = stackSlot(t.regs);
    const calls: Parameters<typeof checkedChain>[2] = [];
    if (t.robust.head !== 0n) calls.push({ name: 'set_robust_list', args: [t.robust.head, t.robust.len] });
    if (t.rseq.area !== 0n) calls.push({ name: 'rseq', args: [t.rseq.area, t.rseq.size, 0, t.rseq.signature] });
    if (t.altstack) calls.push({ name: 'sigaltstack', args: [slot, 0], before: () => mem.write(slot, t.altstack!) });
    if (t.name !== inherited.name) calls.push({ name: 'prctl', args: [PR_SET_NAME, slot], before: () => mem.write(slot, Buffer.from(t.name.slice(0, 15) + '\0')) });
    return checkedChain(task, base, calls);
  });
  runChains(chains, ctx.insn);
}

/**
 * Gives each thread (main first) the capability state its original had
 * (caps.ts): the threads were made by the main thread, so they have its
 * capabilities, which in a new user namespace are full.
 */
function restoreCaps(tasks: TracedTask[], states: ThreadState[], mainBase: Buffer, ctx: BuildContext, mem: ProcessMemory): void {
  const start = ctx.userns ? freshUserNamespaceCaps() : states[0]!.caps;
  if (!start) return;
  const jobs = tasks.map((task, i) => {
    const t = states[i]!;
    const base = i === 0 ? mainBase : Buffer.from(t.regs);
    if (i > 0) setReg(base, 'rsp', ctx.callStack);
    return { task, base, slot: stackSlot(t.regs), steps: t.caps ? capSteps(start, t.caps) : [] };
  });
  applyCapSteps(jobs, ctx.insn, mem);
}

/**
 * Its registers, xstate and mask. A thread in a syscall stop (our last call's)
 * gets registers that make its interrupted call again from user mode (and is
 * run to that call's entry, reenterCalls); one in a stop inside the kernel's
 * signal path (parked by the parasite, or main after the parasite's munmap)
 * gets them as captured, and the kernel
 * restarts the call itself when it is let go.
 */
function finishThread(task: TracedTask, t: ThreadState): void {
  pt.setRegs(task.tid, task.inSyscallStop ? resumeRegs(t.regs) : signalStopRegs(t.regs));
  pt.setXstate(task.tid, t.xstate);
  pt.setSigmask(task.tid, t.sigmask);
}

function cloneArgs(t: ThreadState): (bigint | number)[] {
  let flags = THREAD_FLAGS;
  if (t.tidField) flags |= CLONE.PARENT_SETTID;
  if (t.clearChildTid) flags |= CLONE.CHILD_CLEARTID;
  return [flags, reg(t.regs, 'rsp'), t.tidField, t.clearChildTid, reg(t.regs, 'fs_base')];
}

/**
 * One new thread per captured thread, made by injected clones. Threads made
 * in one round make threads in the next (1, 2, 4, ... calls at once), so N
 * threads take about log2(N) rounds rather than N calls in a row.
 */
function createThreads(main: TracedTask, base: Buffer, states: ThreadState[], ctx: BuildContext, mem: ProcessMemory, built: TracedTask[]): TracedTask[] {
  const tasks: TracedTask[] = new Array(states.length);
  const creators = [main];
  for (let next = 0; next < states.length; ) {
    const round = creators.slice(0, states.length - next).map((task, k) => ({ task, i: next + k }));
    next += round.length;
    const tids = ctx.exact
      ? outerTids(main.tgid, injectAllChecked('clone3', round.map(({ task, i }) => ({ task, base, args: writeClone3Args(states[i]!, ctx, mem) })), ctx.insn).map(Number))
      : injectAllChecked('clone', round.map(({ task, i }) => ({ task, base, args: cloneArgs(states[i]!) })), ctx.insn);
    const fresh = round.map(({ i }, k) => (tasks[i] = new TracedTask(main.tgid, Number(tids[k]))));
    built.push(...fresh);
    for (const t of fresh) t.waitEventStop();
    creators.push(...fresh);
  }
  return tasks;
}

/**
 * clone3 arguments for an exact-TID thread, written into the clone's copy of
 * that thread's dead stack; the TID field already holds the TID it gets back.
 * The call returns the TID inside the clone's namespace; ptrace needs the
 * outer one, read back from /proc (outerTids).
 */
function writeClone3Args(t: ThreadState, ctx: BuildContext, mem: ProcessMemory): (bigint | number)[] {
  const at = scratch(t.regs);
  let flags = THREAD_FLAGS;
  if (t.clearChildTid) flags |= CLONE.CHILD_CLEARTID;
  mem.write(at, clone3Args({ flags, exitSignal: 0, childTid: t.clearChildTid, stack: ctx.callStack - 256n, stackSize: 256n, tls: reg(t.regs, 'fs_base'), setTid: t.tid, at }));
  return [at, 88];
}

const THREAD_FLAGS =
  CLONE.VM | CLONE.FS | CLONE.FILES | CLONE.SIGHAND | CLONE.THREAD | CLONE.SYSVSEM | CLONE.SETTLS | CLONE.PTRACE;

/**
 * The clone's threads, made and registered, stopped and traced: by the
 * parasite (parasite.ts) when it can run here, else by injected calls. Exact
 * TIDs keep the injected clone3 (each with the TID it must get).
 */
function makeThreads(main: TracedTask, base: Buffer, f: ThreadState, others: ThreadState[], ctx: BuildContext, mem: ProcessMemory, scratchMem: ProcessMemory, built: TracedTask[]): TracedTask[] {
  if (!ctx.exact && ctx.parasite !== false && others.length > 0) {
    try {
      // the parasite's threads are seized, not born traced: no CLONE_PTRACE
      const flags = (t: ThreadState) => BigInt(cloneArgs(t)[0]!) & ~BigInt(CLONE.PTRACE);
      return makeThreadsByParasite(main, base, ctx.insn, mem, others, flags, f.name, built, f.robust);
    } catch (e) {
      if (!(e instanceof ParasiteFailed)) throw e;
    }
  }
  // a fork leaves the copy no robust list (the parasite registers main's itself)
  if (f.robust.head) injectChecked(main, ctx.insn, base, 'set_robust_list', [f.robust.head, f.robust.len]);
  const tasks = createThreads(main, base, others, ctx, scratchMem, built);
  registerInThreads(tasks, others, f, ctx, scratchMem);
  return tasks;
}

/** Turns the stopped one-thread copy `pid` (made by injectFork from `f`) into a full clone. */
export function buildClone(pid: number, f: ThreadState, others: ThreadState[], ctx: BuildContext, built: TracedTask[]): BuiltClone {
  const main = new TracedTask(pid, pid);
  built.push(main);
  main.waitEventStop();
  // EXITKILL: if we die now, the half-built clone dies with us; TRACESYSGOOD for
  // reenterCalls. Threads made by injected clones inherit both.
  pt.setOptions(pid, pt.OPT.EXITKILL | pt.OPT.TRACESYSGOOD);
  const mem = new ProcessMemory(pid);
  const scratchMem = new ScratchMemory(pid); // arguments of injected calls: put back before the threads run
  try {
    const tids = new Map<number, number>([[f.tid, pid]]);
    const moves: OwnerMove[] = [{ head: f.ownerList, oldTid: f.tid, newTid: pid }];
    const mainBase = Buffer.from(f.regs);
    setReg(mainBase, 'rsp', ctx.callStack);
    markDontFork(main, ctx.insn, mainBase, ctx.dontFork, true);
    if (!ctx.exact && f.tidField && f.tidField !== f.clearChildTid) { // exact: it holds the right TID already
      const b = Buffer.alloc(4);
      b.writeInt32LE(pid, 0);
      mem.write(f.tidField, b);
    }
    restoreSchedAndAffinity(pid, f); // before the threads, which inherit it (a fork may reset the policy)
    ctx.beforeThreads?.(main, mainBase, scratchMem);
    const mainState = f;
    const tasks = makeThreads(main, mainBase, f, others, ctx, mem, scratchMem, built);
    ctx.afterThreads?.([main, ...tasks], mainBase, scratchMem);
    restoreCaps([main, ...tasks], [f, ...others], mainBase, ctx, scratchMem);
    tasks.forEach((task, i) => {
      const t = others[i]!;
      finishThread(task, t);
      restoreSchedAndAffinity(task.tid, t, mainState); // a new thread inherits the clone's main thread's
      tids.set(t.tid, task.tid);
      moves.push({ head: t.ownerList, oldTid: t.tid, newTid: task.tid });
    });
    const ownersFixed = ctx.exact ? 0 : fixOwners(mem, ctx.layout, moves);
    scratchMem.restore();
    ctx.restoreStacks?.(mem); // the return frames written into the original before the fork
    finishThread(main, f);
    const inCalls = [...tasks, main].map((task, i) => ({ task, regs: i < tasks.length ? others[i]!.regs : f.regs })).filter((x) => x.task.inSyscallStop);
    reenterCalls(inCalls.map((x) => x.task), inCalls.map((x) => x.regs));
    return { pid, tasks: [...built], tids, ownersFixed };
  } finally {
    mem.close();
    scratchMem.close();
  }
}
