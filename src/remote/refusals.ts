// Targets the remote engine refuses, as the contract says (docs/semantics.md):
// read from /proc once every thread is stopped, so that nothing changes
// between the check and the clone.
//
// Seccomp: a filter belongs to a thread and can only be installed by that
// thread, for itself and the threads it creates later. Every thread of a
// clone descends from the forker's copy, so it has the forker's filter: a
// thread filtered differently would come back unfiltered, or filtered by
// another thread's rules. Strict mode (1) allows only read, write, exit and
// sigreturn: the engine's injected calls would kill the thread.
// CET shadow stacks: a recreated thread gets a new shadow stack that does not
// hold the return addresses of the frames it resumes in; its first `ret`
// would fault.
import { readThreadStatus, statusValue } from '../proc/tasks.js';
import { RemoteError } from './errors.js';

export interface ThreadSecurity {
  tid: number;
  /** Seccomp: 0 none, 1 strict, 2 filter */
  seccomp: number;
  /** Seccomp_filters: how many filters are attached */
  filters: number;
  /** x86_Thread_features lists shstk */
  shadowStack: boolean;
}

/** `status`: the thread's /proc status text when already read (readThreadStatus). */
export function readSecurity(pid: number, tid: number, status = readThreadStatus(pid, tid)): ThreadSecurity {
  const features = statusValue(status, 'x86_Thread_features') ?? '';
  return {
    tid,
    seccomp: Number(statusValue(status, 'Seccomp') ?? 0),
    filters: Number(statusValue(status, 'Seccomp_filters') ?? 0),
    shadowStack: /\bshstk\b/.test(features),
  };
}

/** The reason to refuse, or undefined. `threads[0]` is the forker (the thread the clone is forked from). */
export function refusal(pid: number, threads: ThreadSecurity[]): RemoteError | undefined {
  const forker = threads[0];
  if (!forker) return undefined;
  const shstk = threads.find((t) => t.shadowStack);
  if (shstk)
    return new RemoteError(
      `PID ${pid}: thread ${shstk.tid} has a CET shadow stack (x86_Thread_features: shstk); recreated threads would not have its return addresses, so such a process is not supported`,
      'not-supported',
    );
  const strict = threads.find((t) => t.seccomp === 1);
  if (strict)
    return new RemoteError(`PID ${pid}: thread ${strict.tid} is in seccomp strict mode (Seccomp: 1); the calls the engine injects would kill it, so it is not supported`, 'not-supported');
  const odd = threads.find((t) => t.seccomp !== forker.seccomp || t.filters !== forker.filters);
  if (odd)
    return new RemoteError(
      `PID ${pid}: thread ${odd.tid} has Seccomp ${odd.seccomp}, Seccomp_filters ${odd.filters}, but thread ${forker.tid}, which every thread of the clone descends from, has Seccomp ${forker.seccomp}, Seccomp_filters ${forker.filters}; seccomp filters cannot be given to a thread from outside, so a clone would not be sandboxed as the original is: not supported`,
      'not-supported',
    );
  return undefined;
}
