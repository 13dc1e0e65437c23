// Pipes between processes of the tree: a pipe whose every end is held inside
// the tree (no process outside holds it) becomes the clone tree's own, with
// the bytes it buffered, so a cloned pipeline talks only to itself. A pipe
// held by one process only is its own business (private/ copies self-pipes);
// a pipe with an end outside stays shared, as after fork.
//
// Read while the whole tree is held: the ends (fd number, direction,
// close-on-exec, status flags) and the buffered bytes, duplicated with tee(2)
// without being consumed. Installed in the copies before their threads exist:
// the new pipe is made in this process, and each copy takes its ends with
// pidfd_getfd (an injected call) and puts them at the original numbers with
// dup3, which also closes the original pipe's end it had there.
import { readSync, writeSync } from 'node:fs';
import { linkInode, listFds, O_ACCMODE, O_CLOEXEC, O_WRONLY, readFdInfo } from '../../proc/fdinfo.js';
import { closeQuietly, F_GETPIPE_SZ, F_SETFL, F_SETPIPE_SZ, fcntl, FIONREAD, ioctlPtr, pidfdGetfd, pidfdOpen, pipe2, teeNonblock } from '../private/fd-syscalls.js';
import { STATUS_MASK } from '../private/fd-info-cache.js';
import type { FdPlanter } from './fd-planter.js';
import type { StoppedCopy } from './types.js';

const SETTABLE = 0o4000 | 0o40000 | 0o2000; // O_NONBLOCK | O_DIRECT | O_APPEND

export interface PipeEnd {
  /** the original process holding it */
  pid: number;
  fd: number;
  write: boolean;
  cloexec: boolean;
}

export interface TreePipe {
  /** the original pipe's inode */
  ino: string;
  ends: PipeEnd[];
  size: number;
  bytes: Buffer;
  readFlags: number;
  writeFlags: number;
}

function bufferedBytes(pid: number, fd: number): { size: number; bytes: Buffer } {
  const pidfd = pidfdOpen(pid);
  let local = -1;
  let tmp: [number, number] | undefined;
  try {
    local = pidfdGetfd(pidfd, fd, pid);
    const size = fcntl(local, F_GETPIPE_SZ, 0, `F_GETPIPE_SZ on fd ${fd} of PID ${pid}`);
    const queued = Buffer.alloc(4);
    ioctlPtr(local, FIONREAD, queued, `FIONREAD on fd ${fd} of PID ${pid}`);
    if (queued.readInt32LE(0) === 0) return { size, bytes: Buffer.alloc(0) };
    tmp = pipe2(true);
    fcntl(tmp[1], F_SETPIPE_SZ, size, 'F_SETPIPE_SZ');
    const n = teeNonblock(local, tmp[1], size);
    const bytes = Buffer.alloc(n);
    for (let got = 0; got < n; ) got += readSync(tmp[0], bytes, got, n - got, null);
    return { size, bytes };
  } finally {
    closeQuietly(local);
    closeQuietly(pidfd);
    closeQuietly(tmp?.[0]);
    closeQuietly(tmp?.[1]);
  }
}

/** The pipes between two or more of the held `members` that the scan before the hold (`inside`) found held by nobody outside. */
export function planTreePipes(members: number[], inside: Set<string>): TreePipe[] {
  const byIno = new Map<string, PipeEnd[]>();
  for (const pid of members) {
    for (const e of listFds(pid)) {
      if (e.kind !== 'pipe') continue;
      const flags = readFdInfo(pid, e.fd).flags;
      const ino = String(linkInode(e.link));
      byIno.set(ino, [...(byIno.get(ino) ?? []), { pid, fd: e.fd, write: (flags & O_ACCMODE) === O_WRONLY, cloexec: (flags & O_CLOEXEC) !== 0 }]);
    }
  }
  const shared = new Map([...byIno].filter(([ino, ends]) => inside.has(ino) && new Set(ends.map((x) => x.pid)).size > 1 && ends.some((x) => !x.write)));
  const out: TreePipe[] = [];
  for (const [ino, ends] of shared) {
    const reader = ends.find((x) => !x.write)!;
    const writer = ends.find((x) => x.write);
    const { size, bytes } = bufferedBytes(reader.pid, reader.fd);
    out.push({
      ino,
      ends,
      size,
      bytes,
      readFlags: readFdInfo(reader.pid, reader.fd).flags & STATUS_MASK,
      writeFlags: writer ? readFdInfo(writer.pid, writer.fd).flags & STATUS_MASK : 0,
    });
  }
  return out;
}

/** Makes each planned pipe anew, with its bytes, and puts its ends into the copies (`copyOf`: original PID -> its stopped copy). */
export function installTreePipes(pipes: TreePipe[], copyOf: (pid: number) => StoppedCopy | undefined, planter: FdPlanter): void {
  for (const p of pipes) {
    const [r, w] = pipe2(true);
    try {
      if (p.size) fcntl(w, F_SETPIPE_SZ, p.size, `F_SETPIPE_SZ(${p.size})`);
      for (let at = 0; at < p.bytes.length; ) at += writeSync(w, p.bytes, at);
      fcntl(r, F_SETFL, p.readFlags & SETTABLE, 'F_SETFL on the new pipe');
      fcntl(w, F_SETFL, p.writeFlags & SETTABLE, 'F_SETFL on the new pipe');
      for (const end of p.ends) {
        const copy = copyOf(end.pid);
        if (copy) planter.plant(copy, end.write ? w : r, end.fd, end.cloexec);
      }
    } finally {
      closeQuietly(r);
      closeQuietly(w);
    }
  }
}
