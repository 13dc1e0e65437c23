// Exact TIDs for a tree (--tree --exact-tids): the copy of a member (or of a
// zombie) is forked by its parent's copy, inside the clone tree's PID
// namespace, with clone3 set_tid = the member's own PID, so that it keeps its
// number there: the counterpart of the plain fork of adopt.ts and zombie-copy.ts.
//
// clone3 takes its arguments in memory: they are written below the red zone
// of the parent copy's call stack (dead stack) and put back after the call.
// The child gets a copy of those bytes too; its memory is then made C's, and
// that page differs from C's, so it is copied over (adopt-memory.ts).
import { readFileSync } from 'node:fs';
import { injectSyscall, NR } from '../inject.js';
import { ProcessMemory } from '../memory.js';
import { RemoteError } from '../errors.js';
import { errnoName } from '../libc.js';
import { statusField } from '../../proc/tasks.js';
import { cloneArgs, scratch, SCRATCH_BYTES } from '../exact.js';
import type { StoppedCopy } from './types.js';

const CLONE_PTRACE = 0x2000;

/** The outer PID of `parent`'s child whose PID in its namespace is `inner`. */
export function outerChild(parent: number, inner: number): number {
  const kids = readFileSync(`/proc/${parent}/task/${parent}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  for (const k of kids) if (Number(statusField(k, 'NSpid')?.split(/\s+/).at(-1)) === inner) return k;
  throw new RemoteError(`exact TIDs: the copy ${parent} made a child with PID ${inner} in its namespace, but none of its children (${kids.join(', ') || 'none'}) has it`, 'failed');
}

/**
 * `parent` forks a child that is stopped and traced by us (CLONE_PTRACE) and
 * has PID `inner` in the namespace; returns its PID seen from here.
 */
export function exactFork(parent: StoppedCopy, inner: number, exitSignal: number, what: string): number {
  const mem = new ProcessMemory(parent.pid);
  const at = scratch(parent.base);
  const saved = mem.read(at, SCRATCH_BYTES);
  let got: bigint;
  try {
    mem.write(at, cloneArgs({ flags: CLONE_PTRACE, exitSignal, setTid: inner, at }));
    got = injectSyscall(parent.main, parent.insn, parent.base, NR.clone3, [at, 88]);
  } finally {
    mem.write(at, saved);
    mem.close();
  }
  if (got < 0n)
    throw new RemoteError(
      `exact TIDs: clone3 with set_tid=${inner} (${what}) in the copy ${parent.pid} failed: ${errnoName(Number(-got))}${got === -17n ? ` (PID ${inner} is taken in the namespace)` : got === -1n ? ' (CAP_SYS_ADMIN over the namespace is missing)' : ''}`,
      'failed',
    );
  if (Number(got) !== inner) throw new RemoteError(`exact TIDs: ${what} got PID ${got} in the namespace, not ${inner}`, 'failed');
  return outerChild(parent.pid, inner);
}
