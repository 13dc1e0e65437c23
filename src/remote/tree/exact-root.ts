// The root's copy for --tree --exact-tids: made as the one-process exact mode
// makes its clone (exact.ts): the held root forks a copy I in new PID and
// mount namespaces; I makes the root's copy R with the root's PID (clone3
// set_tid) and will be the namespace's init. Unlike one process, I stays
// stopped under us until the whole clone tree is made (so a failure collects
// it and leaves nothing), the namespace's /proc is mounted only once every
// copy is made (they read /proc/<original PID>/... while being made), and
// only then I execs forkall-ns-init.
import { readFileSync, readlinkSync } from 'node:fs';
import * as pt from '../ptrace.js';
import { injectNamespaceCopy, makeExactChild, mountNamespaceProc, startInit } from '../exact.js';
import { dontForkRanges, markDontFork } from '../dontfork.js';
import { CAP_SYS_ADMIN, has } from '../caps.js';
import { RemoteError } from '../errors.js';
import { reg } from '../regs.js';
import { TracedTask } from '../task.js';
import { waitLeader } from '../wait.js';
import { toolBinary } from '../../native/paths.js';
import type { FrozenMember } from './frozen-member.js';
import type { ExactTreeNamespaces } from './adopt-types.js';
import type { PendingCopy } from './types.js';
import { pendingFromFork } from './root-copy.js';

export interface ExactRoot {
  /** the namespace's init to be (outer PID): the root's parent's child, a sibling of the root */
  init: TracedTask;
  /** the root's copy, PID = the root's PID in the namespace */
  copy: PendingCopy;
  /** the root's namespaces the tree's stand for */
  namespaces: ExactTreeNamespaces;
  /** mounts the namespace's /proc (by the root's copy) */
  mountProc(): void;
  /** I becomes the namespace's init (exec) and is let go */
  start(): void;
}

/** Makes I and the root's copy; the root `m` is held (its MADV_DONTFORK marks are cleared for the fork, put back on release). */
export function forkExactRootCopy(m: FrozenMember): ExactRoot {
  const f = m.states[0]!;
  if (!f.caps || !has(f.caps.eff, CAP_SYS_ADMIN))
    throw new RemoteError(
      `PID ${m.pid}: --tree --exact-tids needs the root of the tree to have CAP_SYS_ADMIN (run it as root): every copy is forked inside the tree's PID namespace with the PID it must keep, and the copies read the originals' /proc`,
      'not-supported',
    );
  const namespaces = { pid: readlinkSync(`/proc/${m.pid}/ns/pid`), mnt: readlinkSync(`/proc/${m.pid}/ns/mnt`) };
  // a fork leaves out MADV_DONTFORK ranges: cleared in the original first (one-process exact mode does the same)
  m.dontFork = dontForkRanges(m.pid);
  m.dontForkCleared = m.dontFork.length > 0;
  const stuck = markDontFork(m.forker, m.insn, m.forkerBase, m.dontFork, false);
  if (stuck.length) throw new RemoteError(`PID ${m.pid}: cannot clear MADV_DONTFORK on ${stuck.length} mapping(s); they would be missing in the clone`, 'failed');
  const init = injectNamespaceCopy(m.forker, f, m.insn, m.mem, false, m.forkerBase, m.childStack);
  const initBinary = toolBinary('forkall-ns-init');
  try {
    const pid = makeExactChild(init, f, m.insn, m.callStack, false, initBinary, { tree: true });
    const main = new TracedTask(pid, pid);
    main.waitEventStop();
    pt.setOptions(pid, pt.OPT.EXITKILL | pt.OPT.TRACESYSGOOD); // the copies it forks inherit both
    const copy = pendingFromFork(m, pid, main, true);
    return {
      init,
      copy,
      namespaces,
      mountProc: () => mountNamespaceProc(copy.main, copy.base, copy.insn, (reg(copy.base, 'rsp') - 1024n) & ~63n),
      start: () => startInit(init, f, m.insn, m.callStack, initBinary),
    };
  } catch (e) {
    killNamespace(init);
    throw e;
  }
}

/**
 * Kills I (still stopped under us) and collects it. Its children (copies we
 * trace) must be collected first: a dying init waits for its namespace to be
 * empty, and a traced child's end is reported to us before it is reaped.
 */
export function killNamespace(init: TracedTask): void {
  if (init.detached) return;
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${init.tid}/task/${init.tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    // gone
  }
  for (const k of kids) {
    try {
      process.kill(k, 'SIGKILL');
      for (let w = waitLeader(k); w.kind === 'stopped'; w = waitLeader(k));
    } catch {
      // gone, or collected already
    }
  }
  try {
    process.kill(init.tid, 'SIGKILL');
  } catch {
    init.detached = true;
    return;
  }
  try {
    for (let w = waitLeader(init.tid); w.kind === 'stopped'; w = waitLeader(init.tid));
  } catch {
    // collected already
  }
  init.detached = true;
}
