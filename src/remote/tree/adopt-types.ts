// The seam of cloneAsChildOf (adopt.ts): what it needs from the parent's copy
// and from the held source process, and what it hands back. Structural types,
// so the tree orchestrator's own classes (a held member, a stopped copy) fit
// without this file importing them.
import type { ThreadState } from '../capture.js';
import type { LibcLayout } from '../libc-layout.js';
import type { ProcessMemory } from '../memory.js';
import type { BuiltClone } from '../recreate.js';
import type { Range } from '../dontfork.js';
import type { Mapping } from '../syscall-insn.js';
import type { TracedTask } from '../task.js';
import type { PrivatePlan, NotCopied } from '../private/plan.js';
import type { PageCopyStats } from './page-copy.js';

/** A live process X, stopped under our ptrace, one thread: it forks the new child. */
export interface AdoptParent {
  pid: number;
  /** its (only) thread, in a ptrace stop */
  main: TracedTask;
  /** registers the calls injected into `main` start from */
  base: Buffer;
  /** a `syscall` instruction in X's memory */
  insn: bigint;
  /** X is a copy still filling its memory (AdoptedCopy.settle): waited for before X forks */
  settle?(): void;
}

/** The process C to re-create, held: every thread seized, its state read (a tree member). */
export interface AdoptSource {
  pid: number;
  /** C's threads, leader first, stopped under us */
  tasks: TracedTask[];
  /** each thread's state; [0] is the leader's */
  states: ThreadState[];
  /** C's memory (read only) */
  mem: ProcessMemory;
  maps: Mapping[];
  /** a `syscall` instruction in C's memory (valid in the copy once it is C's image) */
  insn: bigint;
  /** registers injected calls into C's threads start from (return-frame.ts) */
  callBase: Map<number, Buffer>;
  /** a stack pointer in C's layout for calls injected into the copy's threads */
  callStack: bigint;
  layout?: LibcLayout;
  /** MADV_DONTFORK ranges of C, marked again in the copy */
  dontFork?: Range[];
  /** private event objects of C, installed in the copy before its threads */
  fdPlan?: PrivatePlan;
  /** the return frames written into C's stacks: their original bytes go into the copy when it is built */
  frames?: { restoreInto(mem: ProcessMemory): void };
}

/** What making the copy cost: pages looked at, copied and dropped, calls made (the counts past the pages once settled). */
export interface AdoptStats {
  /** C's resident + swapped pages */
  sourcePages: number;
  /** pages copied from C */
  pagesCopied: number;
  /** pages of the copy (inherited from X) dropped so that they read as C's (zero or the file) */
  pagesDropped: number;
  /** C's mappings the copy got from X by fork, unchanged, and those made anew */
  mappingsKept: number;
  mappingsMade: number;
  /** descriptors shared with C by number (already the same open file in X) and installed from C */
  fdsKept: number;
  fdsInstalled: number;
  /** signal dispositions set */
  signalsSet: number;
  /** namespaces of C (mount, UTS, IPC, network, cgroup) the copy joined */
  namespacesJoined: number;
  /** C's user and group ids, groups, capabilities or securebits were not X's and were given to the copy */
  credsChanged: boolean;
  /** system calls injected into the copy and into C */
  callsInCopy: number;
  callsInSource: number;
  /** microseconds per step */
  phasesUs: Record<string, number>;
  /** pagemap reads, and µs of each memory step (adopt-memory.ts) */
  pagemapReads?: number;
  memoryUs?: { layout: number; compare: number; drop: number; copy: number };
  /** how the differing pages were copied (page-copy.ts), once settled */
  pageCopy?: PageCopyStats;
}

/** The copy, an image of C, one thread, stopped under our ptrace: `build` makes C's threads in it. */
export interface AdoptedCopy<S extends AdoptSource = AdoptSource> {
  pid: number;
  main: TracedTask;
  /** registers for calls injected into the copy (C's leader's, rsp at C's callStack) */
  base: Buffer;
  /** a `syscall` instruction in the copy (C's) */
  insn: bigint;
  source: S;
  stats: AdoptStats;
  /**
   * Waits until the copy has copied C's pages into itself (a call it runs
   * while the caller goes on: page-copy.ts), then gives it the rest of C's
   * image (mm fields, signal dispositions, descriptors, namespaces, process
   * attributes, credentials, prctl settings, the leader's thread state: calls
   * injected into the copy, and reads injected into C). Must come before
   * anything else is asked of the copy and while C is still held; `build`
   * and a cloneAsChildOf with this copy as parent call it. Idempotent.
   */
  settle(): void;
  /** makes every other thread of C in the copy (the original may have been given back); `built` collects traced tasks to kill on failure */
  build(built: TracedTask[]): BuiltClone & { privateFds?: number; notCopied?: NotCopied[] };
}

export interface AdoptOptions {
  /** called between steps; true abandons (the copy is killed by the caller) */
  shouldAbort?: () => boolean;
  /**
   * the copy reads its original's differing read-write pages itself (one
   * process_vm_readv injected into it, overlapped with the next member)
   * instead of the engine writing them through /proc/PID/mem; measured twice
   * as slow on a quiet 2-core machine (docs/tree.md, Cost), so off by default
   */
  selfCopy?: boolean;
  /** exact TIDs (--tree --exact-tids): the parent's copy is in the clone tree's PID namespace, where C's copy gets C's PID */
  exact?: ExactTreeNamespaces;
}

/** The root's own namespaces (as /proc/PID/ns links) that the clone tree's new ones stand for: a C in them is in the tree's. */
export interface ExactTreeNamespaces {
  pid: string;
  mnt: string;
}
