// The seam between the tree orchestrator (clone-tree.ts) and the code that
// turns a fresh child of a parent's copy into an image of another process
// (adopt.ts, cloneAsChildOf): what one side hands the other.
import type { BuiltClone } from '../recreate.js';
import type { TracedTask } from '../task.js';
import type { NotCopied } from '../private/plan.js';
import type { FrozenMember } from './frozen-member.js';

/**
 * A copy made but not yet built: one thread, stopped under the caller's
 * ptrace, ready for injected calls (it forks the copies of its own children,
 * joins its session and group), its threads still to be made.
 */
export interface StoppedCopy {
  pid: number;
  /** its only thread, stopped (an event stop or an injected call's exit stop) */
  main: TracedTask;
  /** registers the calls injected into `main` start from (rsp off every signal stack) */
  base: Buffer;
  /** a `syscall` instruction in the copy's memory */
  insn: bigint;
  /** a copy still copying its pages (adopt.ts): waits for that; before any call into it, and before its source is given back */
  settle?(): void;
}

/** What `build` made: the copy with every thread, all stopped; and its private descriptors. */
export interface BuiltCopy extends BuiltClone {
  privateFds?: number;
  notCopied?: NotCopied[];
}

/** A copy that will become a full clone of `source` once `build` makes its threads. */
export interface PendingCopy extends StoppedCopy {
  source: FrozenMember;
  /** what making the image cost (adopt.ts); absent for the root's copy, a plain fork */
  stats?: { sourcePages: number; pagesCopied: number; pagesDropped: number; phasesUs: Record<string, number> };
  /** makes every thread of the source in the copy (the original may already have been given back); `built` collects traced tasks to kill on failure */
  build(built: TracedTask[]): BuiltCopy;
}

/**
 * Makes `parent` fork a child and turns that child into an image of `source`
 * (memory, mm fields, signal dispositions, descriptors, cwd/root, umask,
 * rlimits); the source is still held. The child's threads are made later by
 * the returned copy's `build`.
 */
export type CloneAsChildOf = (parent: StoppedCopy, source: FrozenMember, opts?: { shouldAbort?: () => boolean }) => PendingCopy;
