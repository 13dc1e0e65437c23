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
  // the msghdr, iovec and control block are reused (a clone request of
  // forkall explore is sent hundreds of times a second); koffi.address of a
  // Buffer is stable while the Buffer lives
  const { msg, iov, iovAddress } = header;
  iov.writeBigUInt64LE(koffi.address(data) as bigint, 0);
  iov.writeBigUInt64LE(BigInt(data.length), 8);
  msg.writeBigUInt64LE(iovAddress, 16);
  msg.writeBigUInt64LE(1n, 24);
  if (fds.length) {
    const control = controlBlock(fds.length);
    control.buf.writeBigUInt64LE(BigInt(16 + 4 * fds.length), 0); // CMSG_LEN
    control.buf.writeInt32LE(SOL_SOCKET, 8);
    control.buf.writeInt32LE(SCM_RIGHTS, 12);
    fds.forEach((fd, i) => control.buf.writeInt32LE(fd, 16 + 4 * i));
    msg.writeBigUInt64LE(control.address, 32);
    msg.writeBigUInt64LE(BigInt(control.buf.length), 40);
  } else {
    msg.writeBigUInt64LE(0n, 32);
    msg.writeBigUInt64LE(0n, 40);
  }
  const n = sendmsg(sock, msg, MSG_NOSIGNAL);
  if (n !== data.length) throw new Error(`sendmsg on the control socket failed (${n < 0 ? `errno ${lastErrno()}` : `${n} of ${data.length} bytes`})`);
}

// Views of ArrayBuffers made by the constructor: their memory is allocated
// outside V8's heap and never moves, so an address taken once stays valid
// (a small Buffer.alloc may live inside the heap, where the GC moves it).
const header = (() => {
  const ab = new ArrayBuffer(128);
  const msg = Buffer.from(ab, 0, 56); // struct msghdr: no name, one iovec, the control block
  const iov = Buffer.from(ab, 64, 16);
  return { msg, iov, iovAddress: koffi.address(iov) as bigint };
})();

/** control blocks by descriptor count (CMSG_SPACE bytes each) */
const controlBlocks = new Map<number, { buf: Buffer; address: bigint }>();
function controlBlock(nfds: number): { buf: Buffer; address: bigint } {
  let c = controlBlocks.get(nfds);
  if (!c) {
    const buf = Buffer.from(new ArrayBuffer(16 + ((4 * nfds + 7) & ~7)));
    c = { buf, address: koffi.address(buf) as bigint };
    controlBlocks.set(nfds, c);
  }
  return c;
}
