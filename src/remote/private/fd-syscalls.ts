// System calls the tracer makes on descriptors of the original and of the
// clone: copies of their descriptors (pidfd_getfd) are worked on from here, so
// that only what must happen inside the clone (creating a descriptor at a
// number, epoll_ctl, which keys items by fd number) costs an injected call.
import { closeSync } from 'node:fs';
import { libc, lastErrno } from '../../native/libc.js';
import { SyscallError } from '../libc.js';

const sys = libc.func('long syscall(long nr, ...)') as (nr: number, ...typeAndValue: unknown[]) => number;

const NR = {
  ioctl: 16,
  fcntl: 72,
  kcmp: 312,
  tee: 276,
  timerfdSettime: 286,
  clockGettime: 228,
  pipe2: 293,
  openByHandleAt: 304,
  inotifyAddWatch: 254,
  recvfrom: 45,
  pidfdOpen: 434,
  pidfdGetfd: 438,
} as const;

export const KCMP_FILE = 0;
export const KCMP_EPOLL_TFD = 7;
export const F_GETPIPE_SZ = 1032;
export const F_SETPIPE_SZ = 1031;
export const F_SETFL = 4;
export const TFD_IOC_SET_TICKS = 0x40085400;
export const INOTIFY_IOC_SETNEXTWD = 0x40044900;
export const FIONREAD = 0x541b;
const SPLICE_F_NONBLOCK = 2;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;

function check(ret: number, what: () => string): number {
  if (ret < 0) throw new SyscallError(what(), lastErrno());
  return ret;
}

export const pidfdOpen = (pid: number): number => check(sys(NR.pidfdOpen, 'long', pid, 'long', 0), () => `pidfd_open(${pid})`);

/** A copy, in this process, of descriptor `fd` of the process behind `pidfd` (the same open file). */
export const pidfdGetfd = (pidfd: number, fd: number, pid: number): number =>
  check(sys(NR.pidfdGetfd, 'long', pidfd, 'long', fd, 'long', 0), () => `pidfd_getfd(PID ${pid}, fd ${fd})`);

/** 0: fd `fd1` of pid1 is the same open file as fd `fd2` of pid2; otherwise not (or an error: -1). */
export const kcmpFile = (pid1: number, pid2: number, fd1: number, fd2: number): number => sys(NR.kcmp, 'long', pid1, 'long', pid2, 'long', KCMP_FILE, 'long', fd1, 'long', fd2);

/**
 * 0 when fd `fd` of `pid` is the target file of the `toff`-th item with
 * number `tfd` in epoll `efd` of the same process; -1 with errno ENOENT when
 * no such item exists.
 */
export function kcmpEpollTarget(pid: number, fd: number, efd: number, tfd: number, toff: number): number {
  const slot = Buffer.alloc(12);
  slot.writeUInt32LE(efd, 0);
  slot.writeUInt32LE(tfd, 4);
  slot.writeUInt32LE(toff, 8);
  return sys(NR.kcmp, 'long', pid, 'long', pid, 'long', KCMP_EPOLL_TFD, 'long', fd, 'void *', slot);
}

export const fcntl = (fd: number, cmd: number, arg: number, what: string): number => check(sys(NR.fcntl, 'long', fd, 'long', cmd, 'long', arg), () => `fcntl(${what})`);

/** ioctl whose argument is a pointer to `arg`. */
export const ioctlPtr = (fd: number, req: number, arg: Buffer, what: string): number => check(sys(NR.ioctl, 'long', fd, 'long', req, 'void *', arg), () => `ioctl(${what})`);
/** ioctl whose argument is a number. */
export const ioctlNum = (fd: number, req: number, arg: number, what: string): number => check(sys(NR.ioctl, 'long', fd, 'long', req, 'long', arg), () => `ioctl(${what})`);

export function pipe2(nonblock = false): [number, number] {
  const fds = Buffer.alloc(8);
  check(sys(NR.pipe2, 'void *', fds, 'long', O_CLOEXEC | (nonblock ? O_NONBLOCK : 0)), () => 'pipe2');
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

/** tee(2) without blocking: bytes duplicated from pipe `from` into pipe `to` (none consumed); 0 when empty. */
export function teeNonblock(from: number, to: number, len: number): number {
  const n = sys(NR.tee, 'long', from, 'long', to, 'long', len, 'long', SPLICE_F_NONBLOCK);
  if (n < 0) {
    const e = lastErrno();
    if (e === 11) return 0; // EAGAIN: nothing buffered
    throw new SyscallError('tee', e);
  }
  return n;
}

const MSG_PEEK = 2;
const MSG_DONTWAIT = 0x40;

/** recv(MSG_PEEK | MSG_DONTWAIT) into `buf`: what is queued, left in the socket; 0 when nothing. */
export function recvPeek(fd: number, buf: Buffer): number {
  const n = sys(NR.recvfrom, 'long', fd, 'void *', buf, 'long', buf.length, 'long', MSG_PEEK | MSG_DONTWAIT, 'void *', null, 'void *', null);
  if (n < 0) {
    const e = lastErrno();
    if (e === 11) return 0;
    throw new SyscallError('recv(MSG_PEEK)', e);
  }
  return n;
}

/** clock_gettime(clockid) in nanoseconds. */
export function clockNs(clockid: number): bigint {
  const ts = Buffer.alloc(16);
  check(sys(NR.clockGettime, 'long', clockid, 'void *', ts), () => `clock_gettime(${clockid})`);
  return ts.readBigInt64LE(0) * 1_000_000_000n + ts.readBigInt64LE(8);
}

/** timerfd_settime with an itimerspec built from nanoseconds. */
export function timerfdSettime(fd: number, flags: number, valueNs: bigint, intervalNs: bigint): void {
  const its = Buffer.alloc(32);
  its.writeBigInt64LE(intervalNs / 1_000_000_000n, 0);
  its.writeBigInt64LE(intervalNs % 1_000_000_000n, 8);
  its.writeBigInt64LE(valueNs / 1_000_000_000n, 16);
  its.writeBigInt64LE(valueNs % 1_000_000_000n, 24);
  check(sys(NR.timerfdSettime, 'long', fd, 'long', flags, 'void *', its, 'void *', null), () => 'timerfd_settime');
}

/** open_by_handle_at(mountFd, {bytes, type}, flags). Needs CAP_DAC_READ_SEARCH. */
export function openByHandle(mountFd: number, type: number, bytes: Buffer, flags: number): number {
  const h = Buffer.alloc(8 + bytes.length);
  h.writeUInt32LE(bytes.length, 0);
  h.writeInt32LE(type, 4);
  bytes.copy(h, 8);
  return check(sys(NR.openByHandleAt, 'long', mountFd, 'void *', h, 'long', flags), () => 'open_by_handle_at');
}

export const inotifyAddWatch = (fd: number, path: string, mask: number): number =>
  check(sys(NR.inotifyAddWatch, 'long', fd, 'str', path, 'long', mask >>> 0), () => `inotify_add_watch(${path})`);

export const closeQuietly = (fd: number | undefined): void => {
  if (fd === undefined || fd < 0) return;
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
};
