// Waiting for a traced task to stop, exit or be killed, with the wait status
// decoded. Blocking waitpid(tid, __WALL) on the tracing thread.
import { readdirSync } from 'node:fs';
import { napNs, schedYield, waitpid, errno, SyscallError } from './libc.js';
import { readProcText } from '../proc/read-text.js';

const __WALL = 0x40000000;
const WNOHANG = 1;
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

function isZombie(tid: number): boolean {
  try {
    return /\) [ZX] /.test(readProcText(`/proc/${tid}/stat`));
  } catch {
    return true;
  }
}

/** Collects the exit of every other thread of `tgid` that we trace and that has died. */
function reapDeadSiblings(tgid: number): void {
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${tgid}/task`);
  } catch {
    return;
  }
  for (const t of tids.map(Number)) if (t !== tgid) waitpid(t, status, __WALL | WNOHANG); // not ours, or alive: nothing
}

/**
 * waitTask for a thread-group leader. The kernel reports a dead leader only
 * once every other thread of its group is reaped, and threads we trace wait
 * for us to reap them: if the process is killed while we block on its
 * leader, nobody ever would (a clone killed from outside while being built,
 * a target killed during the clone). So poll, and when the leader is dead,
 * collect its dead threads first.
 */
export function waitLeader(tgid: number): WaitResult {
  for (let i = 0; ; i++) {
    const r = waitpid(tgid, status, __WALL | WNOHANG);
    if (r === tgid) return decodeStatus(status[0]!);
    if (r < 0 && errno() !== 4) throw new SyscallError(`waitpid(${tgid})`, errno());
    // a stop comes within microseconds: yield the CPU to the tracee first, then nap
    if (i < 64) schedYield();
    else if (i % 64 === 0 && isZombie(tgid)) reapDeadSiblings(tgid);
    else napNs(20_000);
  }
}
