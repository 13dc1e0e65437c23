// Names of the x86-64 system calls a blocked thread is commonly found in.
const NAMES: Record<number, string> = {
  0: 'read', 1: 'write', 7: 'poll', 23: 'select', 34: 'pause', 35: 'nanosleep', 43: 'accept', 45: 'recvfrom',
  47: 'recvmsg', 61: 'wait4', 72: 'fcntl', 73: 'flock', 128: 'rt_sigtimedwait', 130: 'rt_sigsuspend',
  202: 'futex', 230: 'clock_nanosleep', 232: 'epoll_wait', 247: 'waitid', 270: 'pselect6', 271: 'ppoll',
  281: 'epoll_pwait', 288: 'accept4', 299: 'recvmmsg', 441: 'epoll_pwait2',
};

export function syscallName(nr: number): string {
  return NAMES[nr] ?? `syscall ${nr}`;
}
