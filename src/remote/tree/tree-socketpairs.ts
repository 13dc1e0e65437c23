// Socketpairs between processes of the tree: an unnamed unix socket connected
// to another, the two ends held by different members and by nobody outside
// the tree, becomes the clone tree's own, with the stream bytes queued at
// each end (peeked, not taken). A socketpair one process holds both ends of
// is its own (private/ copies it); named sockets and those with an end
// outside stay shared, as after fork. Datagrams queued between members are
// not copied (reported).
import { writeSync } from 'node:fs';
import { linkInode, listFds, O_CLOEXEC, readFdInfo } from '../../proc/fdinfo.js';
import { addUnixSockets, unixSockets } from '../../proc/unix-sockets.js';
import { closeQuietly, F_SETFL, fcntl, FIONREAD, ioctlPtr, pidfdGetfd, pidfdOpen, recvPeek } from '../private/fd-syscalls.js';
import { STATUS_MASK } from '../private/fd-info-cache.js';
import { libc, lastErrno } from '../../native/libc.js';
import { SyscallError } from '../libc.js';
import type { FdPlanter } from './fd-planter.js';
import type { StoppedCopy } from './types.js';

const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const SETTABLE = 0o4000 | 0o2000; // O_NONBLOCK | O_APPEND
const socketpair = libc.func('int socketpair(int domain, int type, int protocol, _Out_ int *sv)') as (d: number, t: number, p: number, sv: Int32Array) => number;

export interface SocketEnd {
  pid: number;
  fd: number;
  cloexec: boolean;
  /** 0: the first socket's descriptors, 1: its peer's */
  side: 0 | 1;
}

export interface TreeSocketpair {
  type: number;
  ends: SocketEnd[];
  flags: [number, number];
  /** stream bytes waiting to be read at side 0 and at side 1 */
  queued: [Buffer, Buffer];
  /** datagrams were queued and are not copied */
  droppedDatagrams: boolean;
}

/** Bytes queued at socket `fd` of `pid`, peeked from a copy of it (a stream only: datagrams are reported as dropped). */
function peek(pid: number, fd: number, type: number): { bytes: Buffer; dropped: boolean } {
  const pidfd = pidfdOpen(pid);
  let local = -1;
  try {
    local = pidfdGetfd(pidfd, fd, pid);
    const n = Buffer.alloc(4);
    ioctlPtr(local, FIONREAD, n, `SIOCINQ on socket fd ${fd} of PID ${pid}`);
    const count = n.readInt32LE(0);
    if (count <= 0) return { bytes: Buffer.alloc(0), dropped: false };
    if (type !== SOCK_STREAM) return { bytes: Buffer.alloc(0), dropped: true };
    const b = Buffer.alloc(count);
    return { bytes: b.subarray(0, recvPeek(local, b)), dropped: false };
  } finally {
    closeQuietly(local);
    closeQuietly(pidfd);
  }
}

/** Planned while the tree is held; `inside`: inodes nobody outside held at the scan before the hold. */
export function planTreeSocketpairs(members: number[], inside: Set<string>): TreeSocketpair[] {
  const byIno = new Map<number, { pid: number; fd: number; cloexec: boolean; flags: number }[]>();
  for (const pid of members)
    for (const e of listFds(pid)) {
      if (e.kind !== 'socket' || !inside.has(String(linkInode(e.link)))) continue;
      const info = readFdInfo(pid, e.fd);
      const ino = Number(linkInode(e.link));
      byIno.set(ino, [...(byIno.get(ino) ?? []), { pid, fd: e.fd, cloexec: (info.flags & O_CLOEXEC) !== 0, flags: info.flags & STATUS_MASK }]);
    }
  if (!byIno.size) return [];
  const diag = unixSockets();
  if (!diag) return [];
  addUnixSockets(diag, [...byIno.keys()]);
  const out: TreeSocketpair[] = [];
  const done = new Set<number>();
  for (const [ino, a] of byIno) {
    const info = diag.get(ino);
    const b = info && byIno.get(info.peer);
    if (!info || !b || done.has(ino) || info.named || diag.get(info.peer)?.named || diag.get(info.peer)?.peer !== ino) continue;
    done.add(ino).add(info.peer);
    if (new Set([...a, ...b].map((x) => x.pid)).size < 2) continue; // one process's own
    const qa = peek(a[0]!.pid, a[0]!.fd, info.type);
    const qb = peek(b[0]!.pid, b[0]!.fd, info.type);
    out.push({
      type: info.type,
      ends: [...a.map((x) => ({ pid: x.pid, fd: x.fd, cloexec: x.cloexec, side: 0 as const })), ...b.map((x) => ({ pid: x.pid, fd: x.fd, cloexec: x.cloexec, side: 1 as const }))],
      flags: [a[0]!.flags, b[0]!.flags],
      queued: [qa.bytes, qb.bytes],
      droppedDatagrams: qa.dropped || qb.dropped,
    });
  }
  return out;
}

/** Makes each planned socketpair anew in this process, queues its bytes again, and puts its ends into the copies. */
export function installTreeSocketpairs(pairs: TreeSocketpair[], copyOf: (pid: number) => StoppedCopy | undefined, planter: FdPlanter): void {
  for (const p of pairs) {
    const sv = new Int32Array(2);
    if (socketpair(AF_UNIX, p.type | SOCK_CLOEXEC, 0, sv) < 0) throw new SyscallError('socketpair', lastErrno());
    const [s0, s1] = [sv[0]!, sv[1]!];
    try {
      // bytes waiting at side 0 were sent by side 1: send them again from there
      for (let at = 0; at < p.queued[0].length; ) at += writeSync(s1, p.queued[0], at);
      for (let at = 0; at < p.queued[1].length; ) at += writeSync(s0, p.queued[1], at);
      fcntl(s0, F_SETFL, p.flags[0] & SETTABLE, 'F_SETFL on the new socket');
      fcntl(s1, F_SETFL, p.flags[1] & SETTABLE, 'F_SETFL on the new socket');
      for (const end of p.ends) {
        const copy = copyOf(end.pid);
        if (copy) planter.plant(copy, end.side === 0 ? s0 : s1, end.fd, end.cloexec);
      }
    } finally {
      closeQuietly(s0);
      closeQuietly(s1);
    }
  }
}
