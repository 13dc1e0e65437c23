// Mappings marked MADV_DONTFORK ("dc" in smaps) are left out of a fork's
// child. V8 marks its whole heap that way, so a fork-made clone of node would
// find its JavaScript heap unmapped and crash at once. Before the injected
// fork the forker clears the mark (MADV_DOFORK) on each such range; right
// after, the original gets the mark back, and so does the clone, so both keep
// their fork behaviour. MADV_WIPEONFORK ranges are left alone: the program
// asked for them to be empty in a child.
import { readFileSync } from 'node:fs';
import { injectSyscall } from './inject.js';
import type { TracedTask } from './task.js';

const MADV_DONTFORK = 10;
const MADV_DOFORK = 11;
const NR_madvise = 28;

export interface Range {
  start: bigint;
  len: bigint;
}

export function dontForkRanges(pid: number): Range[] {
  const out: Range[] = [];
  let current: Range | undefined;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line);
    if (m) {
      current = { start: BigInt('0x' + m[1]), len: BigInt('0x' + m[2]) - BigInt('0x' + m[1]) };
    } else if (line.startsWith('VmFlags:') && current && / dc( |$)/.test(line)) {
      const last = out.at(-1);
      if (last && last.start + last.len === current.start) last.len += current.len;
      else out.push(current);
    }
  }
  return out;
}

/** Sets or clears MADV_DONTFORK on each range, from inside `task`'s process; returns the ranges it could not change. */
export function markDontFork(task: TracedTask, insn: bigint, base: Buffer, ranges: Range[], dontFork: boolean): Range[] {
  const failed: Range[] = [];
  for (const r of ranges) {
    const ret = injectSyscall(task, insn, base, NR_madvise, [r.start, r.len, dontFork ? MADV_DONTFORK : MADV_DOFORK]);
    if (ret < 0n) failed.push(r);
  }
  return failed;
}
