// Typed ptrace requests on one task, each failing with a SyscallError that
// names the request and the TID. Synchronous, on the tracing thread only.
import koffi from 'koffi';
import { ptraceBuf, ptraceNum, SyscallError, errno } from './libc.js';

export const PT = {
  CONT: 7,
  GETREGS: 12,
  SETREGS: 13,
  SINGLESTEP: 9,
  SYSCALL: 24,
  DETACH: 17,
  SETOPTIONS: 0x4200,
  GETREGSET: 0x4204,
  SETREGSET: 0x4205,
  SEIZE: 0x4206,
  INTERRUPT: 0x4207,
  GETSIGMASK: 0x420a,
  SETSIGMASK: 0x420b,
  GET_RSEQ_CONFIGURATION: 0x420f,
} as const;

/** TRACESYSGOOD: syscall stops report SIGTRAP|0x80, never mistaken for a real SIGTRAP. */
export const OPT = { TRACESYSGOOD: 1, EXITKILL: 0x100000 } as const;
const NT_X86_XSTATE = 0x202;
/** Room for the largest xstate a CPU here reports (AVX-512 + AMX needs ~11 kB). */
const XSTATE_MAX = 16384;

const USER_REGS_BYTES = 27 * 8;

function check(ret: number, what: string, tid: number): void {
  if (ret < 0) throw new SyscallError(`${what} on thread ${tid}`, errno());
}

export function seize(tid: number, options: number): void {
  check(ptraceNum(PT.SEIZE, tid, 0, options), 'PTRACE_SEIZE', tid);
}
export function interrupt(tid: number): void {
  check(ptraceNum(PT.INTERRUPT, tid, 0, 0), 'PTRACE_INTERRUPT', tid);
}
export function setOptions(tid: number, options: number): void {
  check(ptraceNum(PT.SETOPTIONS, tid, 0, options), 'PTRACE_SETOPTIONS', tid);
}
/** Resumes; `sig` is delivered as the thread resumes (0: none). */
export function cont(tid: number, sig = 0): void {
  check(ptraceNum(PT.CONT, tid, 0, sig), 'PTRACE_CONT', tid);
}
/** Resumes for one instruction; a SIGTRAP stop follows it. */
export function singleStep(tid: number, sig = 0): void {
  check(ptraceNum(PT.SINGLESTEP, tid, 0, sig), 'PTRACE_SINGLESTEP', tid);
}
/** Resumes until the next system-call entry or exit (a syscall stop follows). */
export function syscall(tid: number, sig = 0): void {
  check(ptraceNum(PT.SYSCALL, tid, 0, sig), 'PTRACE_SYSCALL', tid);
}
export function detach(tid: number, sig = 0): void {
  check(ptraceNum(PT.DETACH, tid, 0, sig), 'PTRACE_DETACH', tid);
}
/** Detach that reports failure instead of throwing (for clean-up paths). */
export function tryDetach(tid: number, sig = 0): boolean {
  return ptraceNum(PT.DETACH, tid, 0, sig) === 0;
}

export function getRegs(tid: number): Buffer {
  const b = Buffer.alloc(USER_REGS_BYTES);
  check(ptraceBuf(PT.GETREGS, tid, 0, b), 'PTRACE_GETREGS', tid);
  return b;
}
export function setRegs(tid: number, regs: Buffer): void {
  check(ptraceBuf(PT.SETREGS, tid, 0, regs), 'PTRACE_SETREGS', tid);
}

/** The full x87/SSE/AVX/AVX-512/PKRU state as the kernel's XSAVE layout. */
const xstateArea = Buffer.alloc(XSTATE_MAX);
export function getXstate(tid: number): Buffer {
  const area = xstateArea; // reused: only the bytes the kernel reports are copied out
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(koffi.address(area), 0);
  iov.writeBigUInt64LE(BigInt(XSTATE_MAX), 8);
  check(ptraceBuf(PT.GETREGSET, tid, NT_X86_XSTATE, iov), 'PTRACE_GETREGSET(NT_X86_XSTATE)', tid);
  return Buffer.from(area.subarray(0, Number(iov.readBigUInt64LE(8))));
}
export function setXstate(tid: number, xstate: Buffer): void {
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(koffi.address(xstate), 0);
  iov.writeBigUInt64LE(BigInt(xstate.length), 8);
  check(ptraceBuf(PT.SETREGSET, tid, NT_X86_XSTATE, iov), 'PTRACE_SETREGSET(NT_X86_XSTATE)', tid);
}

export function getSigmask(tid: number): Buffer {
  const m = Buffer.alloc(8);
  check(ptraceBuf(PT.GETSIGMASK, tid, 8, m), 'PTRACE_GETSIGMASK', tid);
  return m;
}
export function setSigmask(tid: number, mask: Buffer): void {
  check(ptraceBuf(PT.SETSIGMASK, tid, 8, mask), 'PTRACE_SETSIGMASK', tid);
}

export interface RseqConfig {
  /** address of the registered struct rseq, 0 when none */
  area: bigint;
  size: number;
  signature: number;
}
/** The thread's rseq registration (Linux 5.13+; older kernels: none reported). */
export function getRseq(tid: number): RseqConfig {
  const c = Buffer.alloc(32);
  const r = ptraceBuf(PT.GET_RSEQ_CONFIGURATION, tid, 32, c);
  if (r < 0) {
    if (errno() === 5 /* EIO: request unknown */) return { area: 0n, size: 0, signature: 0 };
    throw new SyscallError(`PTRACE_GET_RSEQ_CONFIGURATION on thread ${tid}`, errno());
  }
  return { area: c.readBigUInt64LE(0), size: c.readUInt32LE(8), signature: c.readUInt32LE(12) };
}
