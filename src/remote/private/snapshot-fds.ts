// Reading, while the original is held, everything a clone needs to get its own
// copies of the original's event objects: which descriptors hold them (dups
// grouped with kcmp), their state from fdinfo, the interest list of each epoll
// instance with every item's target confirmed by kcmp(KCMP_EPOLL_TFD) (the
// number an item was added with may since have been closed or reused), and the
// bytes buffered in each pipe or socketpair whose both ends the process holds
// (duplicated with tee or peeked, so nothing is taken from the original).
import { readSync } from 'node:fs';
import {
  epollItems,
  eventfdState,
  inotifyWatches,
  listFds,
  linkInode,
  O_ACCMODE,
  O_WRONLY,
  signalfdMask,
  timerfdState,
  type FdEntry,
  type FdInfo,
  type FdKind,
} from '../../proc/fdinfo.js';
import { planSocketpairs, type EarlyFdState } from './snapshot-socketpairs.js';
import { planConnections } from './snapshot-connections.js';
import { unixSockets } from '../../proc/unix-sockets.js';
import { FdInfoCache, STATUS_MASK } from './fd-info-cache.js';
import { clockNs, closeQuietly, F_GETPIPE_SZ, F_SETPIPE_SZ, fcntl, FIONREAD, ioctlPtr, kcmpEpollTarget, kcmpFile, pidfdGetfd, pidfdOpen, pipe2, teeNonblock } from './fd-syscalls.js';
import type { NotCopied, PlannedItem, PrivateObject, PrivatePlan } from './plan.js';

export const EPOLL = { ERR: 0x8, HUP: 0x10, EXCLUSIVE: 1 << 28, WAKEUP: 1 << 29, ONESHOT: 1 << 30, ET: 1 << 31 } as const;
const PRIVATE_BITS = (EPOLL.EXCLUSIVE | EPOLL.WAKEUP | EPOLL.ONESHOT | EPOLL.ET) >>> 0;

const ANON_KINDS: FdKind[] = ['eventfd', 'timerfd', 'signalfd', 'inotify', 'epoll'];

/** Groups descriptors that are the same open file (dups): kcmp(KCMP_FILE) against each group's first. */
function groupSameFile(pid: number, entries: FdEntry[]): number[][] {
  const groups: number[][] = [];
  for (const e of entries) {
    const g = groups.find((x) => kcmpFile(pid, pid, x[0]!, e.fd) === 0);
    if (g) g.push(e.fd);
    else groups.push([e.fd]);
  }
  return groups;
}

function planEpoll(pid: number, efd: number, info: FdInfo, all: FdEntry[], infos: FdInfoCache, notCopied: NotCopied[]): PlannedItem[] {
  const seen = new Map<number, number>();
  const open = new Set(all.map((e) => e.fd));
  const out: PlannedItem[] = [];
  for (const it of epollItems(info)) {
    const toff = seen.get(it.tfd) ?? 0;
    seen.set(it.tfd, toff + 1);
    let holder = open.has(it.tfd) && kcmpEpollTarget(pid, it.tfd, efd, it.tfd, toff) === 0 ? it.tfd : -1;
    if (holder < 0) holder = all.find((e) => e.fd !== it.tfd && kcmpEpollTarget(pid, e.fd, efd, it.tfd, toff) === 0)?.fd ?? -1;
    if (holder < 0) {
      notCopied.push({ fd: efd, kind: 'epoll item', reason: `item for fd ${it.tfd} (inode ${it.ino}): its target is not held by any descriptor of the process, so it cannot be added again`, effect: 'dropped' });
      continue;
    }
    // a fired one-shot item keeps only the private bits (the kernel clears even EPOLLERR/EPOLLHUP)
    if ((it.events & EPOLL.ONESHOT) !== 0 && (it.events & ~PRIVATE_BITS) === 0)
      notCopied.push({
        fd: efd,
        kind: 'epoll item',
        reason: `EPOLLONESHOT item for fd ${it.tfd} had fired (disarmed); epoll_ctl cannot add it disarmed, so it is added watching only EPOLLERR/EPOLLHUP, which it reports once if its target has an error or hang-up before it is re-armed`,
        effect: 'approximate',
      });
    const item: PlannedItem = { tfd: it.tfd, events: it.events >>> 0, data: it.data, holder };
    if (holder !== it.tfd && open.has(it.tfd)) item.tfdSlot = infos.slot(it.tfd);
    out.push(item);
  }
  return out;
}

/** Bytes buffered in a pipe, duplicated (tee) from a copy of its read end; the pipe keeps them. */
function pipeBytes(pidfd: number, pid: number, readFd: number): { size: number; bytes: Buffer } {
  const local = pidfdGetfd(pidfd, readFd, pid);
  let tmp: [number, number] | undefined;
  try {
    const size = fcntl(local, F_GETPIPE_SZ, 0, `F_GETPIPE_SZ on fd ${readFd} of PID ${pid}`);
    const queued = Buffer.alloc(4);
    ioctlPtr(local, FIONREAD, queued, `FIONREAD on pipe fd ${readFd}`);
    if (queued.readInt32LE(0) === 0) return { size, bytes: Buffer.alloc(0) }; // the usual case: nothing to duplicate
    tmp = pipe2(true);
    fcntl(tmp[1], F_SETPIPE_SZ, size, 'F_SETPIPE_SZ');
    const n = teeNonblock(local, tmp[1], size);
    const bytes = Buffer.alloc(n);
    let got = 0;
    while (got < n) got += readSync(tmp[0], bytes, got, n - got, null);
    return { size, bytes };
  } finally {
    closeQuietly(local);
    closeQuietly(tmp?.[0]);
    closeQuietly(tmp?.[1]);
  }
}

function queuedInotifyBytes(pidfd: number, pid: number, fd: number): number {
  const local = pidfdGetfd(pidfd, fd, pid);
  try {
    const n = Buffer.alloc(4);
    ioctlPtr(local, FIONREAD, n, `FIONREAD on inotify fd ${fd}`);
    return n.readInt32LE(0);
  } finally {
    closeQuietly(local);
  }
}

/**
 * Everything needed to give a clone private event objects, read from the
 * held original `pid`. Nothing in the original changes: fdinfo and kcmp only
 * read, and pipe contents are duplicated, not consumed.
 */
export function planPrivateFds(pid: number, early?: EarlyFdState): PrivatePlan {
  const all = listFds(pid);
  const infos = new FdInfoCache(pid);
  const notCopied: NotCopied[] = [];
  const objects: PrivateObject[] = [];
  let pidfd = -1;
  const getPidfd = () => (pidfd >= 0 ? pidfd : (pidfd = pidfdOpen(pid)));
  try {
    const epolls: { efd: number; obj: PrivateObject & { kind: 'epoll' } }[] = [];
    for (const kind of ANON_KINDS) {
      for (const group of groupSameFile(pid, all.filter((e) => e.kind === kind))) {
        const first = group[0]!;
        const info = infos.get(first);
        const base = { fds: group.map((fd) => infos.slot(fd)), statusFlags: info.flags & STATUS_MASK };
        switch (kind) {
          case 'eventfd': {
            const s = eventfdState(info);
            if (s.semaphore === undefined) notCopied.push({ fd: first, kind, reason: 'this kernel does not show EFD_SEMAPHORE in fdinfo (6.5+): copied as a plain counter', effect: 'approximate' });
            objects.push({ ...base, kind, count: s.count, semaphore: s.semaphore ?? false });
            break;
          }
          case 'timerfd': {
            const timer = timerfdState(info);
            objects.push({ ...base, kind, timer, readAtNs: clockNs(timer.clockid) });
            break;
          }
          case 'signalfd':
            objects.push({ ...base, kind, mask: signalfdMask(info) });
            break;
          case 'inotify': {
            const watches = inotifyWatches(info);
            const queued = queuedInotifyBytes(getPidfd(), pid, first);
            if (queued > 0) notCopied.push({ fd: first, kind, reason: `${queued} bytes of queued events are not copied (the clone starts with an empty queue)`, effect: 'approximate' });
            objects.push({ ...base, kind, watches });
            break;
          }
          case 'epoll': {
            const obj = { ...base, kind, items: [] as PlannedItem[] };
            objects.push(obj);
            epolls.push({ efd: first, obj });
            break;
          }
        }
      }
    }
    for (const { efd, obj } of epolls) obj.items = planEpoll(pid, efd, infos.get(efd), all, infos, notCopied);
    const pipes = new Map<bigint, FdEntry[]>();
    for (const e of all.filter((x) => x.kind === 'pipe')) pipes.set(linkInode(e.link), [...(pipes.get(linkInode(e.link)) ?? []), e]);
    for (const ends of pipes.values()) {
      const reads = ends.filter((e) => (infos.get(e.fd).flags & O_ACCMODE) !== O_WRONLY);
      const writes = ends.filter((e) => (infos.get(e.fd).flags & O_ACCMODE) === O_WRONLY);
      if (!reads.length || !writes.length) continue; // a pipe to another process: shared, as after fork
      const { size, bytes } = pipeBytes(getPidfd(), pid, reads[0]!.fd);
      objects.push({
        kind: 'pipe',
        fds: reads.map((e) => infos.slot(e.fd)),
        statusFlags: infos.get(reads[0]!.fd).flags & STATUS_MASK,
        write: writes.map((e) => infos.slot(e.fd)),
        writeStatusFlags: infos.get(writes[0]!.fd).flags & STATUS_MASK,
        size,
        bytes,
      });
    }
    // one map of unix sockets for both: the socketpair step adds the sockets made
    // since the early dump, and the connection step then skips every socket in it
    const unix = all.some((e) => e.kind === 'socket') ? (early?.unixSockets ?? unixSockets()) : undefined;
    objects.push(...planSocketpairs(pid, all, infos, getPidfd, notCopied, unix));
    objects.push(...planConnections(pid, all, infos, unix));
    for (const e of all.filter((x) => x.kind === 'io_uring'))
      notCopied.push({ fd: e.fd, kind: 'io_uring', reason: 'an io_uring instance and its rings (shared memory) cannot be copied: the clone shares it with the original', effect: 'shared' });
    return { objects, notCopied };
  } finally {
    closeQuietly(pidfd);
  }
}
