// Making a stopped task execute one system call of our choosing: point rip at
// an existing `syscall` instruction, load the number and arguments, and
// single-step over it. The step ends in a SIGTRAP signal-delivery stop right
// after the call returned (one stop per call; a stop inside get_signal, so a
// thread given its original registers there and let go restarts its own
// interrupted call exactly as the kernel would). Calls in different tasks are
// started together and then collected, so they run in parallel.
import * as pt from './ptrace.js';
import { reg, setReg, sreg } from './regs.js';
import type { TracedTask } from './task.js';
import { SIGTRAP } from './wait.js';

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
    super(`${call} in thread ${tid} failed with errno ${errno}`);
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

/** Sets the call up and lets the task run it; collect with finishCall. */
export function startCall(c: Call, insn: bigint): void {
  pt.setRegs(c.task.tid, callRegs(c.base, insn, c.nr, c.args));
  pt.singleStep(c.task.tid);
}

/** Waits for a started call to return; its raw result. */
export function finishCall(c: Call, insn: bigint): bigint {
  const t = c.task;
  for (;;) {
    t.waitFor(
      (w) => w.kind === 'stopped' && w.event === 0 && w.sig === SIGTRAP,
      (sig) => pt.singleStep(t.tid, sig),
    );
    const after = pt.getRegs(t.tid);
    if (reg(after, 'rip') === insn + 2n) {
      return sreg(after, 'rax');
    }
    // a SIGTRAP of the program's own, before the call ran: keep it, step again
    t.held.push(SIGTRAP);
    pt.singleStep(t.tid);
  }
}

/** Runs the calls (at most one per task), all at once; returns each raw result. */
export function injectAll(calls: Call[], insn: bigint): bigint[] {
  for (const c of calls) startCall(c, insn);
  return calls.map((c) => finishCall(c, insn));
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
