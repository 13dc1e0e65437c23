// Installing private copies of the original's event objects in a clone, before
// any of its threads runs. Only what the clone itself must do is an injected
// call in its (stopped) main task: creating each object, putting it at the
// original's descriptor numbers with dup3 (close-on-exec as it was), and
// epoll_ctl, which keys an item by the fd number it was added with. The rest
// (counters, timer settings, file status flags, buffered pipe bytes, inotify
// watches) the tracer sets on a pidfd_getfd copy of the clone's descriptor,
// which is the same open file.
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { checkResult, InjectedCallFailed, injectSyscall } from '../inject.js';
import type { ProcessMemory } from '../memory.js';
import type { TracedTask } from '../task.js';
import { O_CLOEXEC, O_DIRECT, O_NONBLOCK } from '../../proc/fdinfo.js';
import type { InotifyWatch } from '../../proc/fdinfo.js';
import {
  closeQuietly,
  F_SETFL,
  F_SETPIPE_SZ,
  fcntl,
  inotifyAddWatch,
  INOTIFY_IOC_SETNEXTWD,
  ioctlNum,
  ioctlPtr,
  openByHandle,
  pidfdGetfd,
  pidfdOpen,
  TFD_IOC_SET_TICKS,
  timerfdSettime,
} from './fd-syscalls.js';
import { SyscallError } from '../libc.js';
import type { FdSlot, NotCopied, PlannedItem, PrivateObject, PrivatePlan } from './plan.js';

const NR = { socketpair: 53, close: 3, fcntl: 72, epollCtl: 233, timerfdCreate: 283, signalfd4: 289, eventfd2: 290, epollCreate1: 291, dup3: 292, pipe2: 293, inotifyInit1: 294 } as const;
const EPOLL_CTL_ADD = 1;
const F_DUPFD_CLOEXEC = 1030;
const F_SETFD = 2;
const FD_CLOEXEC = 1;
const EFD_SEMAPHORE = 1;
const TFD_TIMER_ABSTIME = 1;
const O_APPEND = 0o2000;
const O_ASYNC = 0o20000;
const SETTABLE = O_NONBLOCK | O_DIRECT | O_APPEND;
const O_PATH = 0o10000000;

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

class Installer {
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

function createEventfd(ins: Installer, o: PrivateObject & { kind: 'eventfd' }): void {
  ins.single((cloexec) => ins.call('eventfd2', NR.eventfd2, [0, cloexec | (o.semaphore ? EFD_SEMAPHORE : 0)]), o.fds);
  ins.withLocal(o.fds[0]!.fd, (local) => {
    ins.setStatus(local, o.statusFlags, { fd: o.fds[0]!.fd, kind: o.kind });
    if (o.count > 0n) {
      const b = Buffer.alloc(8);
      b.writeBigUInt64LE(o.count, 0);
      writeSync(local, b);
    }
  });
}

const ns = (t: { sec: bigint; nsec: bigint }) => t.sec * 1_000_000_000n + t.nsec;

function createTimerfd(ins: Installer, o: PrivateObject & { kind: 'timerfd' }): void {
  const fd = o.fds[0]!.fd;
  ins.place(ins.call(`timerfd_create(clock ${o.timer.clockid})`, NR.timerfdCreate, [o.timer.clockid, 0]), o.fds);
  ins.withLocal(fd, (local) => {
    ins.setStatus(local, o.statusFlags, { fd, kind: o.kind });
    const remaining = ns(o.timer.value);
    const interval = ns(o.timer.interval);
    // armed: expire at the same instant as the original's (absolute on its clock)
    if (remaining > 0n) timerfdSettime(local, o.timer.settimeFlags | TFD_TIMER_ABSTIME, o.readAtNs + remaining, interval);
    else if (interval > 0n) {
      // an interval timer that expired and was not read yet: fdinfo shows no
      // time remaining and not when it expired, so its phase is unknown
      timerfdSettime(local, o.timer.settimeFlags | TFD_TIMER_ABSTIME, o.readAtNs + interval, interval);
      ins.notCopied.push({ fd, kind: o.kind, reason: `an interval timer that had expired unread: fdinfo does not show its phase, so the copy's next expiry is one interval (${interval} ns) after the snapshot`, effect: 'approximate' });
    }
    if (o.timer.ticks > 0n) {
      const t = Buffer.alloc(8);
      t.writeBigUInt64LE(o.timer.ticks, 0);
      try {
        ioctlPtr(local, TFD_IOC_SET_TICKS, t, 'TFD_IOC_SET_TICKS');
      } catch (e) {
        ins.notCopied.push({ fd, kind: o.kind, reason: `${o.timer.ticks} unread expirations could not be set (${(e as Error).message}; needs CONFIG_CHECKPOINT_RESTORE)`, effect: 'approximate' });
      }
    }
  });
}

function createSignalfd(ins: Installer, o: PrivateObject & { kind: 'signalfd' }, c: CloneSide): void {
  const m = Buffer.alloc(8);
  m.writeBigUInt64LE(o.mask, 0);
  c.mem.write(c.scratch, m);
  ins.single((cloexec) => ins.call('signalfd4', NR.signalfd4, [-1, c.scratch, 8, cloexec]), o.fds);
  ins.withLocal(o.fds[0]!.fd, (local) => ins.setStatus(local, o.statusFlags, { fd: o.fds[0]!.fd, kind: o.kind }));
}

/** A mount point (in our mount namespace) of the device `sdev` (kernel dev_t: major << 20 | minor). */
function mountOf(sdev: number): string | undefined {
  const want = `${sdev >>> 20}:${sdev & 0xfffff}`;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === want) return f[4]!.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

/** Adds watch `w` to the inotify instance `local` with its original number; why not, if it cannot. */
function addWatch(local: number, w: InotifyWatch): string | undefined {
  if (!w.handle) return 'the kernel gave no file handle for its inode';
  const mount = mountOf(w.sdev);
  if (!mount) return `no mount of device ${w.sdev >>> 20}:${w.sdev & 0xfffff} is visible to forkall`;
  let mfd = -1;
  let pfd = -1;
  try {
    mfd = openSync(mount, 'r');
    pfd = openByHandle(mfd, w.handle.type, w.handle.bytes, O_PATH);
    ioctlNum(local, INOTIFY_IOC_SETNEXTWD, w.wd, 'INOTIFY_IOC_SETNEXTWD');
    const wd = inotifyAddWatch(local, `/proc/self/fd/${pfd}`, w.mask);
    return wd === w.wd ? undefined : `it got watch descriptor ${wd}, not ${w.wd}`;
  } catch (e) {
    return e instanceof SyscallError ? `${e.message}${e.what === 'open_by_handle_at' ? ' (reopening by handle needs CAP_DAC_READ_SEARCH)' : ''}` : String(e);
  } finally {
    if (mfd >= 0) closeSync(mfd);
    closeQuietly(pfd);
  }
}

function createInotify(ins: Installer, o: PrivateObject & { kind: 'inotify' }): void {
  const fd = o.fds[0]!.fd;
  ins.single((cloexec) => ins.call('inotify_init1', NR.inotifyInit1, [cloexec]), o.fds);
  ins.withLocal(fd, (local) => {
    ins.setStatus(local, o.statusFlags, { fd, kind: o.kind });
    for (const w of [...o.watches].sort((a, b) => a.wd - b.wd)) {
      const why = addWatch(local, w);
      if (why) ins.notCopied.push({ fd, kind: 'inotify watch', reason: `watch ${w.wd} (inode ${w.ino}) not copied: ${why}`, effect: 'dropped' });
    }
  });
}

function createPipe(ins: Installer, o: PrivateObject & { kind: 'pipe' }, c: CloneSide): void {
  const rfd = o.fds[0]!.fd;
  ins.pair((cloexec) => {
    ins.call('pipe2', NR.pipe2, [c.scratch, cloexec]);
    const ends = c.mem.read(c.scratch, 8);
    return [ends.readInt32LE(0), ends.readInt32LE(4)];
  }, o.fds, o.write);
  ins.withLocal(rfd, (local) => {
    try {
      fcntl(local, F_SETPIPE_SZ, o.size, `F_SETPIPE_SZ(${o.size})`);
    } catch (e) {
      ins.notCopied.push({ fd: rfd, kind: 'pipe', reason: `its size ${o.size} could not be set (${(e as Error).message})`, effect: 'approximate' });
    }
    ins.setStatus(local, o.statusFlags, { fd: rfd, kind: 'pipe' });
  });
  ins.withLocal(o.write[0]!.fd, (local) => {
    ins.setStatus(local, o.writeStatusFlags, { fd: o.write[0]!.fd, kind: 'pipe' });
    let at = 0;
    while (at < o.bytes.length) at += writeSync(local, o.bytes, at);
  });
  if (o.bytes.length && o.writeStatusFlags & O_DIRECT)
    ins.notCopied.push({ fd: rfd, kind: 'pipe', reason: 'a packet-mode (O_DIRECT) pipe: its buffered bytes are copied as one packet', effect: 'approximate' });
}

const AF_UNIX = 1;

function createSocketpair(ins: Installer, o: PrivateObject & { kind: 'socketpair' }, c: CloneSide): void {
  ins.pair((cloexec) => {
    ins.call('socketpair', NR.socketpair, [AF_UNIX, o.type | cloexec, 0, c.scratch]); // SOCK_CLOEXEC is O_CLOEXEC
    const sv = c.mem.read(c.scratch, 8);
    return [sv.readInt32LE(0), sv.readInt32LE(4)];
  }, o.fds, o.other);
  // bytes written at one end are read at the other
  const fill = (fd: number, flags: number, bytes: Buffer) =>
    ins.withLocal(fd, (local) => {
      let at = 0;
      while (at < bytes.length) at += writeSync(local, bytes, at);
      ins.setStatus(local, flags, { fd, kind: 'socketpair' });
    });
  fill(o.other[0]!.fd, o.otherStatusFlags, o.toFirst);
  fill(o.fds[0]!.fd, o.statusFlags, o.toOther);
}

function addItem(ins: Installer, efd: number, it: PlannedItem, c: CloneSide): void {
  const ev = Buffer.alloc(12); // struct epoll_event is packed on x86-64
  ev.writeUInt32LE(it.events, 0);
  ev.writeBigUInt64LE(it.data, 4);
  c.mem.write(c.scratch, ev);
  const add = () => ins.call(`epoll_ctl(${efd}, ADD, ${it.tfd})`, NR.epollCtl, [efd, EPOLL_CTL_ADD, it.tfd, c.scratch]);
  if (it.holder === it.tfd) {
    add();
    return;
  }
  // the item is keyed by a number that now names another file (or none): put
  // the target there for the call, then give the number back what it had
  const saved = it.tfdSlot ? ins.call(`F_DUPFD_CLOEXEC(${it.tfd})`, NR.fcntl, [it.tfd, F_DUPFD_CLOEXEC, 0]) : -1;
  ins.call(`dup3(${it.holder}, ${it.tfd})`, NR.dup3, [it.holder, it.tfd, 0]);
  try {
    add();
  } finally {
    if (it.tfdSlot) {
      ins.call(`dup3(${saved}, ${it.tfd})`, NR.dup3, [saved, it.tfd, it.tfdSlot.cloexec ? O_CLOEXEC : 0]);
      ins.call(`close(${saved})`, NR.close, [saved]);
    } else ins.call(`close(${it.tfd})`, NR.close, [it.tfd]);
  }
}

function createEpoll(ins: Installer, o: PrivateObject & { kind: 'epoll' }): void {
  ins.single((cloexec) => ins.call('epoll_create1', NR.epollCreate1, [cloexec]), o.fds);
  ins.withLocal(o.fds[0]!.fd, (local) => ins.setStatus(local, o.statusFlags, { fd: o.fds[0]!.fd, kind: o.kind }));
}

/**
 * Gives the stopped clone its own copy of every object in `plan`, at the same
 * descriptor numbers. Returns what could not be copied faithfully (added to
 * the plan's own list). A timerfd whose clock the kernel refuses stays shared
 * and is named; any other failure throws (the caller kills the clone).
 */
export function installPrivateFds(c: CloneSide, plan: PrivatePlan): NotCopied[] {
  const ins = new Installer(c);
  try {
    const made: (PrivateObject & { kind: 'epoll' })[] = [];
    for (const o of plan.objects) {
      try {
        if (o.kind === 'eventfd') createEventfd(ins, o);
        else if (o.kind === 'timerfd') createTimerfd(ins, o);
        else if (o.kind === 'signalfd') createSignalfd(ins, o, c);
        else if (o.kind === 'inotify') createInotify(ins, o);
        else if (o.kind === 'pipe') createPipe(ins, o, c);
        else if (o.kind === 'socketpair') createSocketpair(ins, o, c);
        else {
          createEpoll(ins, o);
          made.push(o);
        }
      } catch (e) {
        // only a timerfd is made before its number is freed (an alarm clock may be refused)
        if (!(e instanceof InjectedCallFailed) || !e.call.startsWith('timerfd_create')) throw e;
        ins.notCopied.push({ fd: o.fds[0]!.fd, kind: o.kind, reason: `the clone could not create its own (${e.call} failed with errno ${e.errno}): shared with the original`, effect: 'shared' });
      }
    }
    // every target exists now (private copies included, epoll in epoll too)
    for (const o of made) {
      const efd = o.fds[0]!.fd;
      for (const it of o.items) {
        try {
          addItem(ins, efd, it, c);
        } catch (e) {
          if (!(e instanceof InjectedCallFailed) || !e.call.startsWith('epoll_ctl')) throw e;
          ins.notCopied.push({ fd: efd, kind: 'epoll item', reason: `item for fd ${it.tfd} could not be added (errno ${e.errno})`, effect: 'dropped' });
        }
      }
    }
    return [...plan.notCopied, ...ins.notCopied];
  } finally {
    ins.close();
  }
}
