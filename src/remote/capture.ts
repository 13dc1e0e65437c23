// Everything a recreated thread needs, read from a stopped thread of the
// target. Most of it comes through ptrace and /proc; the TID address and the
// signal stack only the thread itself can report, so each is one injected
// call whose result lands in a scratch area below the forker's red zone.
import { readFileSync } from 'node:fs';
import * as pt from './ptrace.js';
import { getAffinity, getRobustList, schedGetattr } from './libc.js';
import { injectChecked } from './inject.js';
import { reg } from './regs.js';
import type { ProcessMemory } from './memory.js';
import type { TracedTask } from './task.js';

export interface ThreadState {
  tid: number;
  regs: Buffer;
  xstate: Buffer;
  sigmask: Buffer;
  rseq: pt.RseqConfig;
  robust: { head: bigint; len: bigint };
  /** the list of locks it owns: the robust list, or musl's unregistered owner list (0: none known) */
  ownerList: bigint;
  /** set_tid_address / CLONE_CHILD_CLEARTID address (0: none) */
  clearChildTid: bigint;
  /** where the libc thread descriptor keeps this thread's TID (0: not found) */
  tidField: bigint;
  /** struct stack_t (24 bytes) when a signal stack is set, else undefined */
  altstack?: Buffer;
  name: string;
  affinity: Buffer;
  sched: Buffer;
}

const PR_GET_TID_ADDRESS = 40;
const SS_DISABLE = 2;

export interface CaptureContext {
  mem: ProcessMemory;
  insn: bigint;
  /** 64 bytes of writable memory no thread uses while everything is stopped */
  scratch: bigint;
}

function readName(pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return '';
  }
}

/** The descriptor's TID field: glibc's clear_child_tid points at it; musl's does not, so look near the thread pointer. */
function findTidField(mem: ProcessMemory, tid: number, clearChildTid: bigint, fsBase: bigint): bigint {
  const atClear = clearChildTid ? mem.tryRead(clearChildTid, 4) : undefined;
  if (atClear && atClear.readInt32LE(0) === tid) return clearChildTid;
  const desc = fsBase ? mem.tryRead(fsBase, 256) : undefined;
  if (!desc) return 0n;
  for (let off = 8; off + 4 <= desc.length; off += 4) if (desc.readInt32LE(off) === tid) return fsBase + BigInt(off);
  return 0n;
}

export function captureThread(task: TracedTask, ctx: CaptureContext): ThreadState {
  const tid = task.tid;
  const regs = pt.getRegs(tid);
  const s = ctx.scratch;
  injectChecked(task, ctx.insn, regs, 'prctl', [PR_GET_TID_ADDRESS, s]);
  const clearChildTid = ctx.mem.read(s, 8).readBigUInt64LE(0);
  injectChecked(task, ctx.insn, regs, 'sigaltstack', [0, s]);
  const ss = ctx.mem.read(s, 24);
  const fsBase = reg(regs, 'fs_base');
  const robust = getRobustList(tid);
  const st = {
    tid,
    regs,
    xstate: pt.getXstate(tid),
    sigmask: pt.getSigmask(tid),
    rseq: pt.getRseq(tid),
    robust,
    ownerList: robust.head,
    clearChildTid,
    tidField: findTidField(ctx.mem, tid, clearChildTid, fsBase),
    altstack: ss.readInt32LE(8) & SS_DISABLE ? undefined : ss,
    name: readName(task.tgid, tid),
    affinity: getAffinity(tid),
    sched: schedGetattr(tid),
  };
  return st;
}
