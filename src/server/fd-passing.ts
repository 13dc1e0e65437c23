// Descriptors for a clone's own stdio: pipes made here, and sendmsg(2) with
// SCM_RIGHTS to hand them to the agent over the control socket (Node's
// streams cannot send descriptors; koffi calls libc directly).
import koffi from 'koffi';
import { lastErrno, libc } from '../native/libc.js';
const pipe2 = libc.func('int pipe2(void *fds, int flags)') as (fds: Buffer, flags: number) => number;
const sendmsg = libc.func('long sendmsg(int fd, void *msg, int flags)') as (fd: number, msg: Buffer, flags: number) => number;

const O_CLOEXEC = 0o2000000;
const MSG_NOSIGNAL = 0x4000;
const SOL_SOCKET = 1;
const SCM_RIGHTS = 1;

/** A close-on-exec pipe: [read end, write end]. */
export function makePipe(): [number, number] {
  const fds = Buffer.alloc(8);
  if (pipe2(fds, O_CLOEXEC) < 0) throw new Error(`pipe2 failed (errno ${lastErrno()})`);
  return [fds.readInt32LE(0), fds.readInt32LE(4)];
}

/**
 * Sends `data` on the stream socket `sock` in one sendmsg, with `fds` attached
 * to its first byte. The kernel duplicates them into the receiver; the caller
 * still owns its copies.
 */
export function sendWithFds(sock: number, data: Buffer, fds: number[]): void {
  const iov = Buffer.alloc(16);
  iov.writeBigUInt64LE(koffi.address(data) as bigint, 0);
  iov.writeBigUInt64LE(BigInt(data.length), 8);
  const dataLen = 4 * fds.length;
  const control = Buffer.alloc(16 + ((dataLen + 7) & ~7)); // CMSG_SPACE
  control.writeBigUInt64LE(BigInt(16 + dataLen), 0); // CMSG_LEN
  control.writeInt32LE(SOL_SOCKET, 8);
  control.writeInt32LE(SCM_RIGHTS, 12);
  fds.forEach((fd, i) => control.writeInt32LE(fd, 16 + 4 * i));
  const msg = Buffer.alloc(56); // struct msghdr: no name, one iovec, the control block
  msg.writeBigUInt64LE(koffi.address(iov) as bigint, 16);
  msg.writeBigUInt64LE(1n, 24);
  if (fds.length) {
    msg.writeBigUInt64LE(koffi.address(control) as bigint, 32);
    msg.writeBigUInt64LE(BigInt(control.length), 40);
  }
  const n = sendmsg(sock, msg, MSG_NOSIGNAL);
  if (n !== data.length) throw new Error(`sendmsg on the control socket failed (${n < 0 ? `errno ${lastErrno()}` : `${n} of ${data.length} bytes`})`);
}
