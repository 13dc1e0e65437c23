// The clone side of private event objects: injected calls in the stopped
// clone's main task (creating a descriptor at a given number), and copies of
// the clone's descriptors in forkall's own process (pidfd_getfd) for what the
// tracer can set from outside on the same open file.
import { checkResult, injectSyscall } from '../inject.js';
import type { ProcessMemory } from '../memory.js';
import type { TracedTask } from '../task.js';
import { O_CLOEXEC, O_DIRECT, O_NONBLOCK } from '../../proc/fdinfo.js';
import { closeQuietly, F_SETFL, fcntl, pidfdGetfd, pidfdOpen } from './fd-syscalls.js';
import type { FdSlot, NotCopied } from './plan.js';

/** System call numbers (x86-64) of the calls made inside the clone. */
export const NR = { socketpair: 53, close: 3, fcntl: 72, epollCtl: 233, timerfdCreate: 283, signalfd4: 289, eventfd2: 290, epollCreate1: 291, dup3: 292, pipe2: 293, inotifyInit1: 294 } as const;
export const F_DUPFD_CLOEXEC = 1030;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const O_APPEND = 0o2000;
const O_ASYNC = 0o20000;
const SETTABLE = O_NONBLOCK | O_DIRECT | O_APPEND;

/** The clone, stopped and traced, and what injected calls in its main task need. */
export interface CloneSide {
  main: TracedTask;
  /** registers the injected calls borrow (rsp off every signal stack; the calls use no stack) */
  base: Buffer;
  insn: bigint;
  mem: ProcessMemory;
  /** 32 dead bytes in the clone's memory for a call's argument */
  scratch: bigint;
}

export class Installer {
  readonly notCopied: NotCopied[] = [];
  private pidfd = -1;
  constructor(private readonly c: CloneSide) {}

  call(what: string, nr: number, args: (bigint | number)[]): number {
    return Number(checkResult(what, this.c.main.tid, injectSyscall(this.c.main, this.c.insn, this.c.base, nr, args)));
  }

  /** Puts the new object `fd` at every number of `slots`, then closes `fd` (a number that was free). */
  place(fd: number, slots: FdSlot[]): void {
    for (const s of slots) this.call(`dup3(${fd}, ${s.fd})`, NR.dup3, [fd, s.fd, s.cloexec ? O_CLOEXEC : 0]);
    this.call(`close(${fd})`, NR.close, [fd]);
  }

  /**
   * Puts a new object at slots[0] in place of the shared file there, usually
   * in two calls: the number is closed first, so that it is the lowest free
   * one and `create` (given O_CLOEXEC or 0) lands on it; if a lower number was
   * free, the object is moved. The other slots are dups. (When `create`
   * fails, the slot stays closed: the caller gives up on the clone.)
   */
  single(create: (cloexec: number) => number, slots: FdSlot[]): void {
    const [first, ...rest] = slots as [FdSlot, ...FdSlot[]];
    this.call(`close(${first.fd})`, NR.close, [first.fd]);
    const n = create(first.cloexec ? O_CLOEXEC : 0);
    if (n !== first.fd) this.place(n, [first]);
    for (const s of rest) this.call(`dup3(${first.fd}, ${s.fd})`, NR.dup3, [first.fd, s.fd, s.cloexec ? O_CLOEXEC : 0]);
  }

  /** The same for an object with two ends (pipe, socketpair): `create` returns both numbers. */
  pair(create: (cloexec: number) => [number, number], a: FdSlot[], b: FdSlot[]): void {
    const [a0, b0] = [a[0]!, b[0]!];
    this.call(`close(${a0.fd})`, NR.close, [a0.fd]);
    this.call(`close(${b0.fd})`, NR.close, [b0.fd]);
    const [g0, g1] = create(a0.cloexec && b0.cloexec ? O_CLOEXEC : 0);
    if (g0 !== a0.fd || g1 !== b0.fd) {
      // out of the way first (the two may have landed on each other's numbers), then into place
      const above = Math.max(a0.fd, b0.fd) + 1;
      const t0 = this.call('F_DUPFD_CLOEXEC', NR.fcntl, [g0, F_DUPFD_CLOEXEC, above]);
      const t1 = this.call('F_DUPFD_CLOEXEC', NR.fcntl, [g1, F_DUPFD_CLOEXEC, above]);
      this.call(`close(${g0})`, NR.close, [g0]);
      this.call(`close(${g1})`, NR.close, [g1]);
      this.place(t0, [a0]);
      this.place(t1, [b0]);
    } else if (a0.cloexec !== b0.cloexec) {
      const on = a0.cloexec ? a0 : b0;
      this.call(`F_SETFD(${on.fd})`, NR.fcntl, [on.fd, F_SETFD, FD_CLOEXEC]);
    }
    for (const [first, rest] of [[a0, a.slice(1)], [b0, b.slice(1)]] as const)
      for (const s of rest) this.call(`dup3(${first.fd}, ${s.fd})`, NR.dup3, [first.fd, s.fd, s.cloexec ? O_CLOEXEC : 0]);
  }

  /** Runs `f` on a copy (in this process) of the clone's descriptor `fd`. */
  withLocal<T>(fd: number, f: (local: number) => T): T {
    if (this.pidfd < 0) this.pidfd = pidfdOpen(this.c.main.tid);
    const local = pidfdGetfd(this.pidfd, fd, this.c.main.tid);
    try {
      return f(local);
    } finally {
      closeQuietly(local);
    }
  }

  setStatus(local: number, flags: number, o: { fd: number; kind: string }): void {
    if (flags & SETTABLE) fcntl(local, F_SETFL, flags & SETTABLE, `F_SETFL on the clone's fd ${o.fd}`);
    if (flags & O_ASYNC) this.notCopied.push({ fd: o.fd, kind: o.kind, reason: 'O_ASYNC (signal-driven I/O) is not set on the copy', effect: 'approximate' });
  }

  close(): void {
    closeQuietly(this.pidfd);
  }
}
