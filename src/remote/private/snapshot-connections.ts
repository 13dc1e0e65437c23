// A TCP connection the original holds (accepted from a client, or made to a
// server: a database, a cache) carries one byte stream: if the clone shared
// it, both processes would answer the same request or interleave their own
// in the same stream, and the original's peer would see both. So the
// original keeps it, and the clone gets in its place a socket whose peer has
// gone (one end of a socketpair, the other closed): reads return end of file
// and writes EPIPE, which a server takes as a client that hung up and a
// client as a dropped connection to reconnect. Listening sockets stay shared,
// as after fork: new connections go to whichever process accepts first.
import { linkInode, type FdEntry } from '../../proc/fdinfo.js';
import { TCP_LISTEN, tcpSockets } from '../../proc/tcp-sockets.js';
import { kcmpFile } from './fd-syscalls.js';
import { STATUS_MASK, type FdInfoCache } from './fd-info-cache.js';
import type { PrivateObject } from './plan.js';
import type { UnixSocketInfo } from '../../proc/unix-sockets.js';

/** The original's TCP sockets that are not listening, each (with its dups) to be replaced by an ended stream in the clone. */
export function planConnections(pid: number, all: FdEntry[], infos: FdInfoCache, unix?: Map<number, UnixSocketInfo>): PrivateObject[] {
  // a socket sock_diag knows as a unix socket is not TCP; reading the TCP
  // tables walks every hash bucket of the namespace (about 2 ms here, while
  // the original is held), so skip it when no other socket is left
  const sockets = all.filter((e) => e.kind === 'socket' && !unix?.has(Number(linkInode(e.link))));
  if (!sockets.length) return [];
  const tcp = tcpSockets(pid);
  const groups: { first: FdEntry; fds: number[]; peer: string }[] = [];
  for (const e of sockets) {
    const s = tcp.get(linkInode(e.link));
    if (!s || s.state === TCP_LISTEN) continue;
    const g = groups.find((x) => kcmpFile(pid, pid, x.first.fd, e.fd) === 0);
    if (g) g.fds.push(e.fd);
    else groups.push({ first: e, fds: [e.fd], peer: s.remote });
  }
  return groups.map((g) => ({ kind: 'connection' as const, fds: g.fds.map((fd) => infos.slot(fd)), statusFlags: infos.get(g.first.fd).flags & STATUS_MASK, peer: g.peer }));
}
