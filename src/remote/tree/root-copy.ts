// The root's copy: forked by the root itself, as the one-process engine does
// (a sibling of the root, CLONE_PARENT, ours from its first instruction), and
// built later with the engine's build path.
import * as pt from '../ptrace.js';
import { injectFork, buildClone } from '../recreate.js';
import { dontForkRanges, markDontFork } from '../dontfork.js';
import { readMaps } from '../syscall-insn.js';
import { RemoteError } from '../errors.js';
import { setReg } from '../regs.js';
import { stackSlot } from '../capture.js';
import { installPrivateFds } from '../private/install-fds.js';
import type { NotCopied } from '../private/plan.js';
import { TracedTask } from '../task.js';
import { tgkill } from '../libc.js';
import type { ProcessMemory } from '../memory.js';
import { waitTask } from '../wait.js';
import type { FrozenMember } from './frozen-member.js';
import type { BuiltCopy, PendingCopy } from './types.js';
import { stopAgainForBuild } from './copy-calls.js';

function lacksMappings(m: FrozenMember, copyPid: number): boolean {
  const copy = new Set(readMaps(copyPid).map((x) => `${x.start}-${x.end}`));
  return m.maps.some((x) => !copy.has(`${x.start}-${x.end}`));
}

function reapKilled(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
    waitTask(pid);
  } catch {
    // already collected
  }
}

/** Forks the copy of the held root `m`; it is stopped, traced and killed with us until built. */
export function forkRootCopy(m: FrozenMember): PendingCopy {
  const f = m.states[0]!;
  let pid = injectFork(m.forker, f, m.insn, m.forkerBase, m.childStack);
  // a fork leaves out MADV_DONTFORK ranges: clear the marks and fork again (clone-process.ts does the same)
  if (lacksMappings(m, pid)) {
    reapKilled(pid);
    m.dontFork = dontForkRanges(m.pid);
    m.dontForkCleared = m.dontFork.length > 0;
    const stuck = markDontFork(m.forker, m.insn, m.forkerBase, m.dontFork, false);
    if (stuck.length) throw new RemoteError(`PID ${m.pid}: cannot clear MADV_DONTFORK on ${stuck.length} mapping(s); they would be missing in the clone`, 'failed');
    pid = injectFork(m.forker, f, m.insn, m.forkerBase, m.childStack);
  }
  const main = new TracedTask(pid, pid);
  main.waitEventStop();
  pt.setOptions(pid, pt.OPT.EXITKILL | pt.OPT.TRACESYSGOOD); // its children copies inherit both
  return pendingFromFork(m, pid, main);
}

/** A copy forked from `m`'s image whose first stop was collected: its threads are made by buildClone. */
export function pendingFromFork(m: FrozenMember, pid: number, main: TracedTask, exact = false): PendingCopy {
  const f = m.states[0]!;
  const base = Buffer.from(f.regs);
  setReg(base, 'rsp', m.callStack);
  return {
    pid,
    main,
    base,
    insn: m.insn,
    source: m,
    build(built: TracedTask[]): BuiltCopy {
      let notCopied: NotCopied[] | undefined;
      const plan = m.fdPlan;
      const beforeThreads = plan && ((task: TracedTask, b: Buffer, cmem: ProcessMemory) => {
        notCopied = installPrivateFds({ main: task, base: b, insn: m.insn, mem: cmem, scratch: stackSlot(f.regs) }, plan);
      });
      stopAgainForBuild(main);
      const c = buildClone(pid, f, m.states.slice(1), { insn: m.insn, maps: m.maps, callStack: m.callStack, dontFork: m.dontFork, layout: m.layout!, exact, beforeThreads, restoreStacks: m.frames && ((mem) => m.frames!.restoreInto(mem)) }, built);
      main.detached = true; // buildClone traces it as its own main task from here on
      for (const sig of main.held.splice(0)) tgkill(pid, pid, sig); // signals that came while we made its children: pending again
      return { ...c, ...(plan ? { privateFds: plan.objects.length, notCopied: notCopied ?? [] } : {}) };
    },
  };
}
