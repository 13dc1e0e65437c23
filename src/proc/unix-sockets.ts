// Unix-domain sockets of this network namespace and their peers, from the
// kernel's sock_diag netlink interface (the only place that names a socket's
// peer): which two sockets form a socketpair.
import { closeSync } from 'node:fs';
import { libc, lastErrno } from '../native/libc.js';

const sys = libc.func('long syscall(long nr, ...)') as (nr: number, ...typeAndValue: unknown[]) => number;
const NR = { socket: 41, sendto: 44, recvfrom: 45 } as const;
const AF_NETLINK = 16;
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_SOCK_DIAG = 4;
const SOCK_DIAG_BY_FAMILY = 20;
const NLM_F_REQUEST = 1;
const NLM_F_DUMP = 0x300;
const NLMSG_DONE = 3;
const NLMSG_ERROR = 2;
const UDIAG_SHOW_NAME = 1;
const UDIAG_SHOW_PEER = 4;
const UNIX_DIAG_NAME = 0;
const UNIX_DIAG_PEER = 2;

export interface UnixSocketInfo {
  ino: number;
  /** SOCK_STREAM 1, SOCK_DGRAM 2, SOCK_SEQPACKET 5 */
  type: number;
  /** the peer's inode (0: none) */
  peer: number;
  /** bound to a path or an abstract name */
  named: boolean;
}

const align4 = (n: number) => (n + 3) & ~3;

/** struct unix_diag_req in a netlink message: a dump of every socket, or one socket by inode. */
function request(ino: number): Buffer {
  const req = Buffer.alloc(16 + 24);
  req.writeUInt32LE(req.length, 0);
  req.writeUInt16LE(SOCK_DIAG_BY_FAMILY, 4);
  req.writeUInt16LE(NLM_F_REQUEST | (ino ? 0 : NLM_F_DUMP), 6);
  req.writeUInt32LE(1, 8);
  req.writeUInt8(AF_UNIX, 16);
  req.writeUInt32LE(0xffffffff, 20); // every state
  req.writeUInt32LE(ino, 24);
  req.writeUInt32LE(UDIAG_SHOW_PEER | UDIAG_SHOW_NAME, 28);
  req.writeUInt32LE(0xffffffff, 32); // no cookie
  req.writeUInt32LE(0xffffffff, 36);
  return req;
}

/** Sends `req` on netlink socket `fd` and adds every socket in the answer to `out`; false when sock_diag failed. */
function ask(fd: number, req: Buffer, out: Map<number, UnixSocketInfo>): boolean {
  if (sys(NR.sendto, 'long', fd, 'void *', req, 'long', req.length, 'long', 0, 'void *', null, 'long', 0) < 0) return false;
  const dump = (req.readUInt16LE(6) & NLM_F_DUMP) !== 0;
  const buf = Buffer.alloc(1 << 16);
  for (;;) {
    const n = sys(NR.recvfrom, 'long', fd, 'void *', buf, 'long', buf.length, 'long', 0, 'void *', null, 'void *', null);
    if (n < 0) {
      if (lastErrno() === 4) continue;
      return false;
    }
    for (let at = 0; at + 16 <= n; ) {
      const len = buf.readUInt32LE(at);
      const type = buf.readUInt16LE(at + 4);
      if (len < 16 || type === NLMSG_DONE) return true;
      if (type === NLMSG_ERROR) return !dump; // one socket: not a unix socket (ENOENT)
      const m = at + 16; // struct unix_diag_msg: family, type, state, pad, ino, cookie[2]
      const info: UnixSocketInfo = { ino: buf.readUInt32LE(m + 4), type: buf.readUInt8(m + 1), peer: 0, named: false };
      for (let a = m + 16; a + 4 <= at + len; ) {
        const alen = buf.readUInt16LE(a);
        const atype = buf.readUInt16LE(a + 2);
        if (alen < 4) break;
        if (atype === UNIX_DIAG_PEER) info.peer = buf.readUInt32LE(a + 4);
        if (atype === UNIX_DIAG_NAME && alen > 4) info.named = true;
        a += align4(alen);
      }
      out.set(info.ino, info);
      at += align4(len);
    }
    if (!dump) return true;
  }
}

function withDiag<T>(f: (fd: number) => T): T | undefined {
  const fd = sys(NR.socket, 'long', AF_NETLINK, 'long', SOCK_DGRAM | SOCK_CLOEXEC, 'long', NETLINK_SOCK_DIAG);
  if (fd < 0) return undefined;
  try {
    return f(fd);
  } finally {
    closeSync(fd);
  }
}

/** Every unix socket of this network namespace, by inode; undefined when sock_diag is not available. */
export function unixSockets(): Map<number, UnixSocketInfo> | undefined {
  return withDiag((fd) => {
    const out = new Map<number, UnixSocketInfo>();
    return ask(fd, request(0), out) ? out : undefined;
  });
}

/** Adds to `known` the unix sockets among `inodes` it does not have yet, one query each (others are not unix sockets). */
export function addUnixSockets(known: Map<number, UnixSocketInfo>, inodes: number[]): void {
  const missing = inodes.filter((i) => !known.has(i));
  if (missing.length) withDiag((fd) => missing.forEach((i) => ask(fd, request(i), known)));
}
