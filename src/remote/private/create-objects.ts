// Making each kind of private event object in the clone, with the state the
// original's had: eventfd counters, timerfd settings, signalfd masks, pipes
// and socketpairs with their buffered bytes, epoll instances and their items.
import { writeSync } from 'node:fs';
import { O_CLOEXEC, O_DIRECT } from '../../proc/fdinfo.js';
import { F_SETPIPE_SZ, fcntl, ioctlPtr, TFD_IOC_SET_TICKS, timerfdSettime } from './fd-syscalls.js';
import { F_DUPFD_CLOEXEC, NR, type CloneSide, type Installer } from './installer.js';
import type { PlannedItem, PrivateObject } from './plan.js';

const EPOLL_CTL_ADD = 1;
const EFD_SEMAPHORE = 1;
const TFD_TIMER_ABSTIME = 1;
const AF_UNIX = 1;
const SOCK_STREAM = 1;

export function createEventfd(ins: Installer, o: PrivateObject & { kind: 'eventfd' }): void {
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

export function createTimerfd(ins: Installer, o: PrivateObject & { kind: 'timerfd' }): void {
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

export function createSignalfd(ins: Installer, o: PrivateObject & { kind: 'signalfd' }, c: CloneSide): void {
  const m = Buffer.alloc(8);
  m.writeBigUInt64LE(o.mask, 0);
  c.mem.write(c.scratch, m);
  ins.single((cloexec) => ins.call('signalfd4', NR.signalfd4, [-1, c.scratch, 8, cloexec]), o.fds);
  ins.withLocal(o.fds[0]!.fd, (local) => ins.setStatus(local, o.statusFlags, { fd: o.fds[0]!.fd, kind: o.kind }));
}

export function createPipe(ins: Installer, o: PrivateObject & { kind: 'pipe' }, c: CloneSide): void {
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

export function createSocketpair(ins: Installer, o: PrivateObject & { kind: 'socketpair' }, c: CloneSide): void {
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

/** A stream whose peer has gone, in place of a TCP connection the original keeps (snapshot-connections.ts). */
export function createEndedConnection(ins: Installer, o: PrivateObject & { kind: 'connection' }, c: CloneSide): void {
  ins.single((cloexec) => {
    ins.call('socketpair', NR.socketpair, [AF_UNIX, SOCK_STREAM | cloexec, 0, c.scratch]);
    const sv = c.mem.read(c.scratch, 8);
    ins.call(`close(${sv.readInt32LE(4)}) (the peer of the ended stream)`, NR.close, [sv.readInt32LE(4)]);
    return sv.readInt32LE(0);
  }, o.fds);
  ins.withLocal(o.fds[0]!.fd, (local) => ins.setStatus(local, o.statusFlags, { fd: o.fds[0]!.fd, kind: 'connection' }));
}

export function addItem(ins: Installer, efd: number, it: PlannedItem, c: CloneSide): void {
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

export function createEpoll(ins: Installer, o: PrivateObject & { kind: 'epoll' }): void {
  ins.single((cloexec) => ins.call('epoll_create1', NR.epollCreate1, [cloexec]), o.fds);
  ins.withLocal(o.fds[0]!.fd, (local) => ins.setStatus(local, o.statusFlags, { fd: o.fds[0]!.fd, kind: o.kind }));
}
