// struct user_regs_struct (x86-64) as the Buffer PTRACE_GETREGS fills, and the
// system-call restart fixup a recreated thread needs.
export const R = {
  r15: 0, r14: 1, r13: 2, r12: 3, rbp: 4, rbx: 5, r11: 6, r10: 7, r9: 8, r8: 9, rax: 10, rcx: 11, rdx: 12,
  rsi: 13, rdi: 14, orig_rax: 15, rip: 16, cs: 17, eflags: 18, rsp: 19, ss: 20, fs_base: 21, gs_base: 22,
} as const;
export type RegName = keyof typeof R;

export const reg = (regs: Buffer, r: RegName): bigint => regs.readBigUInt64LE(R[r] * 8);
export const sreg = (regs: Buffer, r: RegName): bigint => regs.readBigInt64LE(R[r] * 8);
export function setReg(regs: Buffer, r: RegName, v: bigint | number): void {
  const b = BigInt(v);
  if (b < 0n) regs.writeBigInt64LE(b, R[r] * 8);
  else regs.writeBigUInt64LE(b, R[r] * 8);
}

const ERESTARTSYS = -512n;
const ERESTARTNOINTR = -513n;
const ERESTARTNOHAND = -514n;
const ERESTART_RESTARTBLOCK = -516n;
const EINTR = -4n;

/** The thread was stopped inside a system call (not in user code). */
export const inSyscall = (regs: Buffer): boolean => sreg(regs, 'orig_rax') >= 0n;

/** The captured thread's call is one the kernel makes again when it resumes. */
export function restartsCall(captured: Buffer): boolean {
  const rax = sreg(captured, 'rax');
  return inSyscall(captured) && (rax === ERESTARTSYS || rax === ERESTARTNOINTR || rax === ERESTARTNOHAND);
}

/**
 * Registers for a new thread that must behave as the captured one would after
 * its stop. A call interrupted with -ERESTART{SYS,NOINTR,NOHAND} is made again
 * (rax = the call number, rip back over the 2-byte `syscall`); one that needs
 * the kernel's per-task restart block (nanosleep, poll, timed futex waits) gets
 * -EINTR, as after any signal, because the old task's block is not ours to
 * take. orig_rax = -1 so the kernel never applies a restart of its own on top.
 */
export function resumeRegs(captured: Buffer): Buffer {
  const r = Buffer.from(captured);
  if (restartsCall(captured)) {
    setReg(r, 'rax', sreg(captured, 'orig_rax'));
    setReg(r, 'rip', reg(captured, 'rip') - 2n);
  } else if (inSyscall(captured) && sreg(captured, 'rax') === ERESTART_RESTARTBLOCK) {
    setReg(r, 'rax', EINTR);
  }
  setReg(r, 'orig_rax', -1n);
  return r;
}

/**
 * Registers for a new thread given back at a stop inside the kernel's signal
 * path (an interrupt stop, not a syscall stop): the captured ones as they
 * are, so that when it is let go the kernel itself makes an interrupted call
 * again (orig_rax and -ERESTART* in rax), exactly as for the original thread
 * (restore.ts), with no window in which a signal could slip in before the
 * call is made. Only a call that needs the old task's restart block gets
 * -EINTR, as in resumeRegs.
 */
export function signalStopRegs(captured: Buffer): Buffer {
  const r = Buffer.from(captured);
  if (inSyscall(captured) && sreg(captured, 'rax') === ERESTART_RESTARTBLOCK) {
    setReg(r, 'rax', EINTR);
    setReg(r, 'orig_rax', -1n);
  }
  return r;
}
