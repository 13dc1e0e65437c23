// Why making a thread or process in a clone failed with EAGAIN: the kernel
// says only "try again", but the usual cause is a limit the user can see and
// change, so the error names it with its numbers.
import { readFileSync, readdirSync } from 'node:fs';

function tasksOfUser(uid: number): number {
  let n = 0;
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      if (new RegExp(`^Uid:\\s+${uid}\\s`, 'm').test(readFileSync(`/proc/${e}/status`, 'utf8'))) n += readdirSync(`/proc/${e}/task`).length;
    } catch {
      // gone
    }
  }
  return n;
}

/** A sentence on the limits that make clone fail with EAGAIN for the clone of `pid` (its user's RLIMIT_NPROC, the system's thread and PID limits). */
export function eagainHint(pid: number): string {
  const read = (f: string) => {
    try {
      return readFileSync(f, 'utf8').trim();
    } catch {
      return '?';
    }
  };
  const uid = Number(/^Uid:\s+\d+\s+(\d+)/m.exec(read(`/proc/${pid}/status`))?.[1] ?? -1);
  const nproc = /^Max processes\s+(\S+)/m.exec(read(`/proc/${pid}/limits`))?.[1] ?? '?';
  const tasks = uid >= 0 ? tasksOfUser(uid) : '?';
  return `EAGAIN: a limit on processes and threads was reached — RLIMIT_NPROC of PID ${pid} is ${nproc} and its user (uid ${uid}) runs ${tasks} threads now (root with CAP_SYS_ADMIN is exempt); kernel.threads-max is ${read('/proc/sys/kernel/threads-max')}, kernel.pid_max ${read('/proc/sys/kernel/pid_max')}. Raise the limit (prlimit --nproc) or clone fewer threads`;
}
