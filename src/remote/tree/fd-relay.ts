// Handing a descriptor of this process to a stopped copy inside the clone
// tree's PID namespace (--tree --exact-tids). There, a PID names a process of
// the namespace: a copy cannot pidfd_open the engine or the original member by
// their numbers (fd-planter.ts and adopt-fds.ts do, outside exact mode). So:
// the copy makes a socketpair (injected); the engine takes one end out of it
// with pidfd_getfd (the engine is outside, the copy's PID is its own number
// here) and the copy closes it; then each descriptor goes over with
// SCM_RIGHTS (sendmsg here, recvmsg injected there) and lands in the copy at
// its lowest free number, close-on-exec, for the caller to move.
import { ProcessMemory } from '../memory.js';
import { RemoteError } from '../errors.js';
import { closeQuietly, pidfdGetfd, pidfdOpen } from '../private/fd-syscalls.js';
import { sendWithFds } from '../../server/fd-passing.js';

const NR = { close: 3, fcntl: 72, socketpair: 53, recvmsg: 47 } as const;
const AF_UNIX = 1;
const SOCK_STREAM = 1;
const SOCK_CLOEXEC = 0o2000000;
const F_DUPFD_CLOEXEC = 1030;
const MSG_CMSG_CLOEXEC = 0x40000000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;
/** msghdr (56) + iovec (16) + one byte (8) + a control block for one descriptor (24) */
const SCRATCH = 104;

/** How to run a call in the copy, and 104 bytes of its memory the calls may use (put back after each use). */
export interface RelayTarget {
  /** the copy's PID seen from here */
  pid: number;
  /** one injected call in the copy's only thread; throws naming `what` on an error */
  call(what: string, nr: number, args: (bigint | number)[]): bigint;
  scratch: bigint;
}

export class FdRelay {
  private mine = -1;
  private theirs = -1n;
  private readonly mem: ProcessMemory;

  /** `above`: the copy's end of the socketpair is put at this number or higher (numbers below are the caller's). */
  constructor(private readonly t: RelayTarget, private readonly above = 0) {
    this.mem = new ProcessMemory(t.pid);
  }

  private call(what: string, nr: number, args: (bigint | number)[]): bigint {
    return this.t.call(`${what} (fd relay into the copy ${this.t.pid})`, nr, args);
  }

  private withScratch<T>(fn: (at: bigint) => T): T {
    const saved = this.mem.read(this.t.scratch, SCRATCH);
    try {
      return fn(this.t.scratch);
    } finally {
      this.mem.write(this.t.scratch, saved);
    }
  }

  private open(): void {
    const [a, b] = this.withScratch((at) => {
      this.call('socketpair', NR.socketpair, [AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, at]);
      const sv = this.mem.read(at, 8);
      return [BigInt(sv.readInt32LE(0)), sv.readInt32LE(4)] as const;
    });
    this.theirs = a;
    try {
      if (this.above > 0 && a < BigInt(this.above)) {
        this.theirs = this.call('fcntl(F_DUPFD_CLOEXEC)', NR.fcntl, [a, F_DUPFD_CLOEXEC, this.above]);
        this.call('close', NR.close, [a]);
      }
      const pidfd = pidfdOpen(this.t.pid);
      try {
        this.mine = pidfdGetfd(pidfd, b, this.t.pid);
      } finally {
        closeQuietly(pidfd);
      }
    } finally {
      this.call('close', NR.close, [b]);
    }
  }

  /** Puts a duplicate of our descriptor `local` into the copy; returns its number there (close-on-exec). */
  send(local: number): number {
    if (this.mine < 0) this.open();
    sendWithFds(this.mine, Buffer.from([0]), [local]);
    return this.withScratch((at) => {
      const msg = Buffer.alloc(SCRATCH);
      msg.writeBigUInt64LE(at + 56n, 16); // msg_iov
      msg.writeBigUInt64LE(1n, 24);
      msg.writeBigUInt64LE(at + 80n, 32); // msg_control
      msg.writeBigUInt64LE(24n, 40);
      msg.writeBigUInt64LE(at + 72n, 56); // iov_base
      msg.writeBigUInt64LE(1n, 64);
      this.mem.write(at, msg);
      const n = this.call('recvmsg', NR.recvmsg, [this.theirs, at, MSG_CMSG_CLOEXEC]);
      const back = this.mem.read(at, SCRATCH);
      const controlLen = back.readBigUInt64LE(40);
      if (n !== 1n || controlLen < 20n || back.readInt32LE(88) !== SOL_SOCKET || back.readInt32LE(92) !== SCM_RIGHTS)
        throw new RemoteError(`the copy ${this.t.pid} received no descriptor over the fd relay (recvmsg gave ${n} byte(s), ${controlLen} bytes of control data)`, 'failed');
      return back.readInt32LE(96);
    });
  }

  /** Closes both ends (the copy's by an injected call). */
  close(): void {
    if (this.mine >= 0) closeQuietly(this.mine);
    this.mine = -1;
    try {
      if (this.theirs >= 0n) this.call('close', NR.close, [this.theirs]);
    } finally {
      this.theirs = -1n;
      this.mem.close();
    }
  }
}
