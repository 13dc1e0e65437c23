// Waiting for a traced task to stop, exit or be killed, with the wait status
// decoded. Blocking waitpid(tid, __WALL) on the tracing thread.
import { waitpid, errno, SyscallError } from './libc.js';

const __WALL = 0x40000000;
export const SIGTRAP = 5;
export const SIGSTOP = 19;
export const PTRACE_EVENT_STOP = 128;

export type WaitResult =
  | { kind: 'stopped'; sig: number; event: number }
  | { kind: 'exited'; code: number }
  | { kind: 'killed'; sig: number };

const status = new Int32Array(1);

export function decodeStatus(st: number): WaitResult {
  if ((st & 0xff) === 0x7f) return { kind: 'stopped', sig: (st >> 8) & 0xff, event: (st >> 16) & 0xff };
  if ((st & 0x7f) === 0) return { kind: 'exited', code: (st >> 8) & 0xff };
  return { kind: 'killed', sig: st & 0x7f };
}

export function waitTask(tid: number): WaitResult {
  for (;;) {
    const r = waitpid(tid, status, __WALL);
    if (r === tid) return decodeStatus(status[0]!);
    if (r < 0 && errno() === 4) continue; // EINTR
    throw new SyscallError(`waitpid(${tid})`, errno());
  }
}

export const isEventStop = (w: WaitResult): boolean => w.kind === 'stopped' && w.event === PTRACE_EVENT_STOP;
/** A system-call entry or exit stop (the task has PTRACE_O_TRACESYSGOOD). */
export const isSyscallStop = (w: WaitResult): boolean => w.kind === 'stopped' && w.sig === (SIGTRAP | 0x80);
