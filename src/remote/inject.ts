// Making a stopped task execute one system call of our choosing: point rip at
// an existing `syscall` instruction, load the number and arguments, and run
// the task with PTRACE_SYSCALL to the call's entry stop and on to its exit
// stop, where rax holds the result. Syscall stops generate no signal. (A
// single step would: its SIGTRAP is *forced*, and the kernel delivers a forced
// signal that the program blocks or ignores by resetting its handler to SIG_DFL
// for the whole process and unblocking it in that thread, see
// force_sig_info_to_task; a program that keeps SIGTRAP blocked and pending
// would lose its handler and die.) A thread left in a syscall stop is not in
// the kernel's signal path, so before it is let go with its own registers it
// is brought back to a ptrace stop there (TracedTask.toSignalStop), where the
// kernel's restart logic sees its interrupted call. Calls in different tasks
// are started together and then collected, so they run in parallel.
import * as pt from './ptrace.js';
import { errnoName } from './libc.js';
import { eagainHint } from './thread-limits.js';
import { setReg, sreg } from './regs.js';
import type { TracedTask } from './task.js';

const ARG_REGS = ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'] as const;

export const NR = {
  madvise: 28,
  clone: 56,
  execve: 59,
  mount: 165,
  clone3: 435,
  capset: 126,
  sigaltstack: 131,
  prctl: 157,
  set_tid_address: 218,
  set_robust_list: 273,
  rseq: 334,
} as const;

export class InjectedCallFailed extends Error {
  constructor(readonly call: string, readonly tid: number, readonly errno: number) {
    // a thread or process that cannot be made for EAGAIN: name the limit reached
    super(`${call} in thread ${tid} failed: ${errno === 11 && /^clone/.test(call) ? eagainHint(tid) : errnoName(errno)}`);
  }
}

export interface Call {
  task: TracedTask;
  /** supplies every register the call does not set */
  base: Buffer;
  nr: number;
  args: (bigint | number)[];
}

/** `base` with rip at the `syscall` instruction, the call number and its arguments loaded. */
export function callRegs(base: Buffer, insn: bigint, nr: number, args: (bigint | number)[]): Buffer {
  const r = Buffer.from(base);
  setReg(r, 'rip', insn);
  setReg(r, 'rax', nr);
  setReg(r, 'orig_rax', -1n);
  args.forEach((a, i) => setReg(r, ARG_REGS[i]!, a));
  return r;
}

/** Sets the call up and lets the task run to the call's entry; collect with passEntry and collectExit. */
export function startCall(c: Call, insn: bigint): void {
  pt.setRegs(c.task.tid, callRegs(c.base, insn, c.nr, c.args));
  c.task.blockSignals(); // after the registers: an orphaned call's return frame restores the mask
  pt.syscall(c.task.tid);
}

/** Waits for a started call's entry stop and lets the call run. */
export function passEntry(c: Call): void {
  c.task.waitSyscallStop(); // signals that come first are held, as at any stop
  pt.syscall(c.task.tid);
}

/**
 * Like passEntry, but the call then runs on into a ptrace stop in the
 * kernel's signal path (PTRACE_INTERRUPT, taken on the way back to user mode)
 * rather than an exit stop: one stop fewer, and the thread is left where it
 * can be given its own registers back directly (restore.ts). Only for a call
 * that a pending interrupt does not disturb: one that never blocks and is
 * not a fork (which a pending signal makes restart). Collect with
 * collectAtSignalStop.
 */
export function passEntryToSignalStop(c: Call): void {
  c.task.waitSyscallStop();
  pt.interrupt(c.task.tid);
  pt.cont(c.task.tid);
}

/** After passEntryToSignalStop: waits for the interrupt stop; the call's raw result (0 without `readResult`: the caller learns it from memory). */
export function collectAtSignalStop(c: Call, readResult = true): bigint {
  c.task.waitEventStop();
  return readResult ? sreg(pt.getRegs(c.task.tid), 'rax') : 0n;
}

/** After passEntry: waits for the call's exit stop; its raw result. */
export function collectExit(c: Call): bigint {
  c.task.waitSyscallStop();
  return sreg(pt.getRegs(c.task.tid), 'rax');
}

/**
 * Runs the calls (at most one per task), all at once; returns each raw
 * result. Every entry is passed before any exit is awaited, so that the
 * calls of all tasks are in flight together.
 */
export function injectAll(calls: Call[], insn: bigint): bigint[] {
  for (const c of calls) startCall(c, insn);
  for (const c of calls) passEntry(c);
  return calls.map(collectExit);
}

/** Runs syscall `nr` in `task` (which must be in a ptrace stop); returns the raw result. */
export function injectSyscall(task: TracedTask, insn: bigint, base: Buffer, nr: number, args: (bigint | number)[]): bigint {
  return injectAll([{ task, base, nr, args }], insn)[0]!;
}

export function checkResult(name: string, tid: number, ret: bigint): bigint {
  if (ret < 0n && ret > -4096n) throw new InjectedCallFailed(name, tid, Number(-ret));
  return ret;
}

/** Same, throwing InjectedCallFailed on a negative result. */
export function injectChecked(task: TracedTask, insn: bigint, base: Buffer, name: keyof typeof NR, args: (bigint | number)[]): bigint {
  return checkResult(name, task.tid, injectSyscall(task, insn, base, NR[name], args));
}

/** injectAll, throwing InjectedCallFailed for the first negative result. */
export function injectAllChecked(name: keyof typeof NR, calls: Omit<Call, 'nr'>[], insn: bigint): bigint[] {
  const rets = injectAll(calls.map((c) => ({ ...c, nr: NR[name] })), insn);
  return rets.map((r, i) => checkResult(name, calls[i]!.task.tid, r));
}

/** One injected call of a thread's chain, and what to do with its raw result. */
export interface Step {
  nr: number;
  args: (bigint | number)[];
  done: (ret: bigint) => void;
  /** the thread's last call for now: run it on into a signal-path stop (passEntryToSignalStop) */
  toSignalStop?: boolean;
  /** with toSignalStop: the call's answer is in memory, so its registers are not read (`done` gets 0) */
  resultInMemory?: boolean;
}

/** A thread's calls one after another: `next` gives the next (chosen once the last one's result is in), undefined when done. */
export interface Chain {
  task: TracedTask;
  base: Buffer;
  next: () => Step | undefined;
}

/**
 * Runs each thread's chain of calls, every thread's at once, with no round
 * waiting for the slowest thread: while one thread's call runs the tracer
 * collects another's result and starts its next call.
 */
export function runChains(chains: Chain[], insn: bigint): void {
  type Live = { chain: Chain; step: Step; call: Call };
  const start = (chain: Chain): Live | undefined => {
    const step = chain.next();
    if (!step) return undefined;
    const call = { task: chain.task, base: chain.base, nr: step.nr, args: step.args };
    startCall(call, insn);
    return { chain, step, call };
  };
  let live = chains.flatMap((c) => start(c) ?? []);
  while (live.length) {
    for (const l of live) (l.step.toSignalStop ? passEntryToSignalStop : passEntry)(l.call);
    live = live.flatMap((l) => {
      l.step.done(l.step.toSignalStop ? collectAtSignalStop(l.call, !l.step.resultInMemory) : collectExit(l.call));
      return start(l.chain) ?? [];
    });
  }
}

/** A chain of calls fixed in advance, each checked (InjectedCallFailed names the first that fails). */
export function checkedChain(task: TracedTask, base: Buffer, calls: { name: keyof typeof NR; args: (bigint | number)[]; before?: () => void }[]): Chain {
  const todo = [...calls];
  return {
    task,
    base,
    next: () => {
      const c = todo.shift();
      if (!c) return undefined;
      c.before?.();
      return { nr: NR[c.name], args: c.args, done: (ret) => void checkResult(c.name, task.tid, ret) };
    },
  };
}
