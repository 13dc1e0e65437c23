// Calls injected into a stopped copy before its threads exist, and the small
// ptrace steps around copies that are not built yet.
import * as pt from '../ptrace.js';
import { checkResult, injectSyscall } from '../inject.js';
import { waitLeader, waitTask } from '../wait.js';
import type { TracedTask } from '../task.js';
import type { StoppedCopy } from './types.js';

export const NR_TREE = { setpgid: 109, setsid: 112, clone: 56, exit_group: 231, rt_sigaction: 13, setrlimit: 160, tgkill: 234 } as const;

/** One call in the copy's only thread; throws InjectedCallFailed (naming the copy's TID) on an error. */
export function callIn(copy: StoppedCopy, what: string, nr: number, args: (bigint | number)[]): bigint {
  return checkResult(what, copy.main.tid, injectSyscall(copy.main, copy.insn, copy.base, nr, args));
}

/**
 * buildClone (recreate.ts) starts by collecting the copy's first stop. A copy
 * that already ran injected calls had that stop collected: make it stop once
 * more, in the kernel's signal path (PTRACE_INTERRUPT then continue), without
 * running a user instruction, for buildClone to collect.
 */
export function stopAgainForBuild(main: TracedTask): void {
  pt.interrupt(main.tid);
  pt.cont(main.tid);
}

/** SIGKILL for copies not (or not fully) handed out, and each traced task collected (leaders last). */
export function killCopies(pids: number[], traced: TracedTask[]): void {
  for (const p of new Set(pids)) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  const sorted = [...new Set(traced)].sort((a, b) => Number(a.tid === a.tgid) - Number(b.tid === b.tgid));
  for (const t of sorted) {
    if (t.detached) continue;
    try {
      const wait = () => (t.tid === t.tgid ? waitLeader(t.tid) : waitTask(t.tid));
      for (let w = wait(); w.kind === 'stopped'; w = wait());
    } catch {
      // already collected, or not ours
    }
    t.detached = true;
  }
}
