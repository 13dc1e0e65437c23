// Checks on a target PID before anything looks at or touches it.
import { readProcText } from './read-text.js';
import { listTids, statFields } from './tasks.js';

export class TargetError extends Error {
  constructor(
    message: string,
    readonly code: 'bad-pid' | 'no-such-process' | 'zombie' | 'kernel-thread' | 'self',
  ) {
    super(message);
  }
}

export function parsePid(text: string): number {
  const pid = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(pid) || pid < 1)
    throw new TargetError(`-p expects a process ID (a positive whole number), got '${text}'`, 'bad-pid');
  return pid;
}

function otherLiveThreads(pid: number): number {
  try {
    return listTids(pid).filter((t) => t !== pid).length;
  } catch {
    return 0;
  }
}

/**
 * Throws a TargetError naming the PID when it cannot be inspected as a user
 * process. `exitedLeaderOk`: a process whose main thread called pthread_exit
 * while other threads run (its leader shows as a zombie) is accepted.
 */
export function checkTarget(pid: number, opts: { exitedLeaderOk?: boolean } = {}): void {
  if (pid === process.pid) throw new TargetError(`PID ${pid} is this forkall process itself`, 'self');
  let stat: string;
  try {
    stat = readProcText(`/proc/${pid}/stat`);
  } catch {
    throw new TargetError(`no process with PID ${pid}`, 'no-such-process');
  }
  const f = statFields(stat);
  if (f[0] === 'Z' || f[0] === 'X') {
    const others = otherLiveThreads(pid);
    if (others === 0) throw new TargetError(`PID ${pid} is a zombie (it exited; its parent has not reaped it)`, 'zombie');
    if (!opts.exitedLeaderOk)
      throw new TargetError(`PID ${pid}: its main thread has exited (pthread_exit) while ${others} other thread(s) run; such a process cannot be cloned from outside`, 'zombie');
  }
  const flags = Number(f[6]); // field 9
  if (flags & 0x00200000) throw new TargetError(`PID ${pid} is a kernel thread`, 'kernel-thread');
}
