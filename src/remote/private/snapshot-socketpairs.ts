// Socketpairs whose both ends the process holds, read while the original is
// held: the kernel names a unix socket's peer only through sock_diag, so the
// sockets of forkall's network namespace are listed (before the hold, as a
// connected socket's peer never changes; sockets made since are asked about
// one by one), and the stream bytes queued at each end are peeked, not taken.
import { linkInode, listFds, type FdEntry } from '../../proc/fdinfo.js';
import { addUnixSockets, unixSockets, type UnixSocketInfo } from '../../proc/unix-sockets.js';
import { closeQuietly, FIONREAD, ioctlPtr, pidfdGetfd, recvPeek } from './fd-syscalls.js';
import type { NotCopied, PrivateObject } from './plan.js';
import { STATUS_MASK, type FdInfoCache } from './fd-info-cache.js';

const SOCK_STREAM = 1;

/** Bytes waiting to be read at socket `fd` of the process, peeked (not consumed) from a copy of it. */
function queuedSocketBytes(pidfd: number, pid: number, fd: number, type: number, notCopied: NotCopied[]): Buffer {
  const local = pidfdGetfd(pidfd, fd, pid);
  try {
    const n = Buffer.alloc(4);
    ioctlPtr(local, FIONREAD, n, `SIOCINQ on socket fd ${fd}`);
    const queued = n.readInt32LE(0);
    if (queued <= 0) return Buffer.alloc(0);
    if (type !== SOCK_STREAM) {
      notCopied.push({ fd, kind: 'socketpair', reason: 'datagrams queued at the snapshot are not copied', effect: 'approximate' });
      return Buffer.alloc(0);
    }
    const b = Buffer.alloc(queued);
    return b.subarray(0, recvPeek(local, b));
  } finally {
    closeQuietly(local);
  }
}

/** Socketpairs whose both ends the process holds (peers found with sock_diag). */
export function planSocketpairs(pid: number, all: FdEntry[], infos: FdInfoCache, getPidfd: () => number, notCopied: NotCopied[], early?: Map<number, UnixSocketInfo>): PrivateObject[] {
  const sockets = all.filter((e) => e.kind === 'socket');
  if (!sockets.length) return [];
  // the dump made before the hold, plus the sockets made since (one query each)
  const diag = early ?? unixSockets();
  if (!diag) return [];
  addUnixSockets(diag, sockets.map((e) => Number(linkInode(e.link))));
  const byIno = new Map<number, FdEntry[]>();
  for (const e of sockets) {
    const ino = Number(linkInode(e.link));
    if (diag.has(ino)) byIno.set(ino, [...(byIno.get(ino) ?? []), e]);
  }
  const out: PrivateObject[] = [];
  const done = new Set<number>();
  for (const [ino, ends] of byIno) {
    const info = diag.get(ino)!;
    const peerEnds = byIno.get(info.peer);
    if (done.has(ino) || !peerEnds || info.named || diag.get(info.peer)?.named || diag.get(info.peer)?.peer !== ino) continue;
    done.add(ino).add(info.peer);
    const pidfd = getPidfd();
    out.push({
      kind: 'socketpair',
      type: info.type,
      fds: ends.map((e) => infos.slot(e.fd)),
      statusFlags: infos.get(ends[0]!.fd).flags & STATUS_MASK,
      other: peerEnds.map((e) => infos.slot(e.fd)),
      otherStatusFlags: infos.get(peerEnds[0]!.fd).flags & STATUS_MASK,
      toFirst: queuedSocketBytes(pidfd, pid, ends[0]!.fd, info.type, notCopied),
      toOther: queuedSocketBytes(pidfd, pid, peerEnds[0]!.fd, info.type, notCopied),
    });
  }
  return out;
}

/** What can be read before the original is held, to keep the hold short. */
export interface EarlyFdState {
  /** unix sockets and their peers (a socket's peer does not change once it is connected) */
  unixSockets?: Map<number, UnixSocketInfo>;
}

/**
 * Reads, before the hold, what does not change while the target runs. Runs
 * before ptrace is allowed: a target we may not look at yields nothing here
 * (the attach then says why).
 */
export function readEarlyFdState(pid: number): EarlyFdState {
  try {
    return listFds(pid).some((e) => e.kind === 'socket') ? { unixSockets: unixSockets() } : {};
  } catch {
    return {};
  }
}

