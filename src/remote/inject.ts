// Making a stopped task execute one system call of our choosing: point rip at
// an existing `syscall` instruction, load the number and arguments, run to the
// call's entry and exit stops, read rax. The caller restores the registers.
import * as pt from './ptrace.js';
import { reg, setReg, sreg } from './regs.js';
import type { TracedTask } from './task.js';

const ARG_REGS = ['rdi', 'rsi', 'rdx', 'r10', 'r8', 'r9'] as const;

export const NR = {
  sigaltstack: 131,
  prctl: 157,
  clone: 56,
  set_robust_list: 273,
  set_tid_address: 218,
  rseq: 334,
} as const;

export class InjectedCallFailed extends Error {
  constructor(readonly call: string, readonly tid: number, readonly errno: number) {
    super(`${call} in thread ${tid} failed with errno ${errno}`);
  }
}

/**
 * Runs syscall `nr` in `task` (which must be in a ptrace stop) and returns its
 * raw result. `base` supplies every register the call does not set.
 */
export function injectSyscall(task: TracedTask, insn: bigint, base: Buffer, nr: number, args: (bigint | number)[]): bigint {
  const r = Buffer.from(base);
  setReg(r, 'rip', insn);
  setReg(r, 'rax', nr);
  setReg(r, 'orig_rax', -1n);
  args.forEach((a, i) => setReg(r, ARG_REGS[i]!, a));
  pt.setRegs(task.tid, r);
  task.stepSyscall(); // entry
  task.stepSyscall(); // exit
  task.stop = 'syscall-exit';
  const after = pt.getRegs(task.tid);
  if (reg(after, 'rip') !== insn + 2n) throw new Error(`thread ${task.tid} did not stop after the injected call (rip ${reg(after, 'rip').toString(16)})`);
  return sreg(after, 'rax');
}

/** Same, throwing InjectedCallFailed on a negative result. */
export function injectChecked(task: TracedTask, insn: bigint, base: Buffer, name: keyof typeof NR, args: (bigint | number)[]): bigint {
  const ret = injectSyscall(task, insn, base, NR[name], args);
  if (ret < 0n && ret > -4096n) throw new InjectedCallFailed(name, task.tid, Number(-ret));
  return ret;
}

