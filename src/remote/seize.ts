// Attaching to every thread of a process without racing thread creation and
// exit: seize and interrupt each TID listed in /proc/<pid>/task, wait for its
// stop, and scan again until a scan finds nobody new. A stopped thread cannot
// create threads, so the set converges.
import { listTids, statFields } from '../proc/tasks.js';
import { readProcText } from '../proc/read-text.js';
import * as pt from './ptrace.js';
import { SyscallError } from './libc.js';
import { RemoteError } from './errors.js';
import { TaskGone, TracedTask } from './task.js';

const state = (pid: number, tid: number): string => {
  try {
    return statFields(readProcText(`/proc/${pid}/task/${tid}/stat`))[0] ?? 'X';
  } catch {
    return 'X';
  }
};

/** Seizes every live thread of `pid`; returns them stopped, leader first. */
export function seizeAll(pid: number, onDenied: (err: SyscallError) => RemoteError): TracedTask[] {
  const tasks = new Map<number, TracedTask>();
  const dead = new Set<number>();
  try {
    for (let scan = 0; ; scan++) {
      const fresh = listTids(pid).filter((t) => !tasks.has(t) && !dead.has(t));
      if (fresh.length === 0 && scan > 0) break;
      if (scan > 1000) throw new RemoteError(`process ${pid} keeps creating threads faster than they can be seized`, 'failed');
      const seized: TracedTask[] = [];
      for (const tid of fresh) {
        try {
          pt.seize(tid, pt.OPT.TRACESYSGOOD); // syscall stops of injected calls: SIGTRAP|0x80
        } catch (e) {
          const errno = e instanceof SyscallError ? e.errno : 0;
          // ESRCH: exited meanwhile. EPERM also comes for a thread that has
          // exited but lingers (a leader that called pthread_exit stays a zombie).
          if (errno === 3 || (errno === 1 && /[ZX]/.test(state(pid, tid)))) {
            dead.add(tid);
            continue;
          }
          if (errno === 1) throw onDenied(e as SyscallError);
          throw e;
        }
        const t = new TracedTask(pid, tid);
        t.blockDuringCalls = true;
        tasks.set(tid, t);
        seized.push(t);
        pt.interrupt(tid);
      }
      for (const t of seized) {
        try {
          t.waitEventStop();
        } catch (e) {
          if (!(e instanceof TaskGone)) throw e;
          t.detached = true;
          tasks.delete(t.tid);
          dead.add(t.tid);
        }
      }
      if (tasks.size === 0 && fresh.length === 0) throw new RemoteError(`process ${pid} has no live thread`, 'zombie');
    }
  } catch (e) {
    for (const t of tasks.values()) t.release();
    throw e;
  }
  return [...tasks.values()].sort((a, b) => (a.tid === pid ? -1 : b.tid === pid ? 1 : a.tid - b.tid));
}
