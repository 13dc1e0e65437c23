// The one handle on the C library that forkall's TypeScript calls into through
// koffi (ptrace and friends for the remote engine, fd passing and peer
// credentials for the snapshot server's clients).
import koffi from 'koffi';

export const libc = koffi.load('libc.so.6');

/** errno as the last koffi call left it. */
export const lastErrno = (): number => koffi.errno() as number;
