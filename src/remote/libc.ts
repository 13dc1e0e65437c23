// The libc calls the remote engine makes, bound with koffi. Everything here is
// synchronous and must run on the thread that attached: the kernel accepts
// ptrace requests only from the tracing thread (koffi's async mode would run
// them on a libuv pool thread and get ESRCH).
import { libc, lastErrno } from '../native/libc.js';

/** ptrace(2) whose data argument is a buffer the kernel reads or fills. */
export const ptraceBuf = libc.func('long ptrace(long req, int pid, uintptr_t addr, void *data)') as (
  req: number,
  pid: number,
  addr: number | bigint,
  data: Buffer,
) => number;
/** ptrace(2) whose data argument is a number (signal, options). */
export const ptraceNum = libc.func('long ptrace(long req, int pid, uintptr_t addr, uintptr_t data)') as (
  req: number,
  pid: number,
  addr: number | bigint,
  data: number | bigint,
) => number;
export const waitpid = libc.func('int waitpid(int pid, void *status, int options)') as (
  pid: number,
  status: Int32Array,
  options: number,
) => number;
/** waitid(2); `info` is a 128-byte siginfo_t the kernel fills. */
export const waitid = libc.func('int waitid(int idtype, int id, void *info, int options)') as (
  idtype: number,
  id: number,
  info: Buffer,
  options: number,
) => number;
/** poll(2) over `fds`, an array of 8-byte struct pollfd. */
export const poll = libc.func('int poll(void *fds, unsigned long nfds, int timeout)') as (fds: Buffer, nfds: number, timeout: number) => number;
const syscallBuf2 = libc.func('long syscall(long nr, long a, void *b, void *c)') as (
  nr: number,
  a: number,
  b: Buffer,
  c: Buffer,
) => number;
const syscallBufNN = libc.func('long syscall(long nr, long a, void *b, long c, long d)') as (
  nr: number,
  a: number,
  b: Buffer,
  c: number,
  d: number,
) => number;
const syscallN = libc.func('long syscall(long nr, long a, long b, long c)') as (nr: number, a: number, b: number, c: number) => number;
const sched_getaffinity = libc.func('int sched_getaffinity(int pid, size_t size, void *mask)') as (
  pid: number,
  size: number,
  mask: Buffer,
) => number;
const sched_setaffinity = libc.func('int sched_setaffinity(int pid, size_t size, void *mask)') as (
  pid: number,
  size: number,
  mask: Buffer,
) => number;
/** process_vm_readv(2) / process_vm_writev(2): arrays of 16-byte struct iovec (base, length). */
export const processVmReadv = libc.func('long process_vm_readv(int pid, void *local, unsigned long nlocal, void *remote, unsigned long nremote, unsigned long flags)') as (
  pid: number,
  local: Buffer,
  nlocal: number,
  remote: Buffer,
  nremote: number,
  flags: number,
) => number;
export const processVmWritev = libc.func('long process_vm_writev(int pid, void *local, unsigned long nlocal, void *remote, unsigned long nremote, unsigned long flags)') as typeof processVmReadv;
export const getppid = libc.func('int getppid(void)') as () => number;
export const schedYield = libc.func('int sched_yield(void)') as () => number;
const nanosleepFn = libc.func('int nanosleep(void *req, void *rem)') as (req: Buffer, rem: null) => number;
const napSpec = Buffer.alloc(16);
/** Sleeps about `ns` nanoseconds (plus the thread's timer slack). */
export function napNs(ns: number): void {
  napSpec.writeBigInt64LE(0n, 0);
  napSpec.writeBigInt64LE(BigInt(ns), 8);
  nanosleepFn(napSpec, null);
}

export const errno = lastErrno;

const SYS = { tgkill: 234, get_robust_list: 274, sched_setattr: 314, sched_getattr: 315, pidfd_open: 434 } as const;

/** A failed call: `what` names the call and its target, `errno` the reason. */
export class SyscallError extends Error {
  constructor(
    readonly what: string,
    readonly errno: number,
  ) {
    super(`${what}: ${errnoName(errno)}`);
  }
}

const NAMES: Record<number, string> = {
  1: 'EPERM (operation not permitted)',
  2: 'ENOENT (no such file or directory)',
  3: 'ESRCH (no such process)',
  4: 'EINTR',
  5: 'EIO',
  11: 'EAGAIN',
  12: 'ENOMEM',
  13: 'EACCES (permission denied)',
  14: 'EFAULT',
  16: 'EBUSY',
  22: 'EINVAL (invalid argument)',
  28: 'ENOSPC (a limit was reached, e.g. user.max_user_namespaces or pid_max)',
  38: 'ENOSYS (not supported by this kernel)',
  95: 'EOPNOTSUPP (not supported)',
};
export const errnoName = (e: number): string => NAMES[e] ?? `errno ${e}`;

function check(ret: number, what: () => string): number {
  if (ret < 0) throw new SyscallError(what(), errno());
  return ret;
}

/** Head address and length of a thread's robust-futex list (0 when none). */
export function getRobustList(tid: number): { head: bigint; len: bigint } {
  const head = Buffer.alloc(8);
  const len = Buffer.alloc(8);
  check(syscallBuf2(SYS.get_robust_list, tid, head, len), () => `get_robust_list(${tid})`);
  return { head: head.readBigUInt64LE(0), len: len.readBigUInt64LE(0) };
}

/** struct sched_attr (56 bytes, SCHED_ATTR_SIZE_VER1) of a thread. */
export function schedGetattr(tid: number): Buffer {
  const a = Buffer.alloc(56);
  check(syscallBufNN(SYS.sched_getattr, tid, a, 56, 0), () => `sched_getattr(${tid})`);
  return a;
}

export function schedSetattr(tid: number, attr: Buffer): void {
  attr.writeUInt32LE(56, 0);
  check(syscallBufNN(SYS.sched_setattr, tid, attr, 0, 0), () => `sched_setattr(${tid})`);
}

const CPU_SET_BYTES = 128;
export function getAffinity(tid: number): Buffer {
  const m = Buffer.alloc(CPU_SET_BYTES);
  check(sched_getaffinity(tid, CPU_SET_BYTES, m), () => `sched_getaffinity(${tid})`);
  return m;
}

export function setAffinity(tid: number, mask: Buffer): void {
  check(sched_setaffinity(tid, mask.length, mask), () => `sched_setaffinity(${tid})`);
}

export function tgkill(tgid: number, tid: number, sig: number): number {
  return syscallN(SYS.tgkill, tgid, tid, sig);
}

export function pidfdOpen(pid: number): number {
  return check(syscallN(SYS.pidfd_open, pid, 0, 0), () => `pidfd_open(${pid})`);
}
