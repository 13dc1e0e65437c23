// Everything a recreated thread needs, read from the stopped threads of the
// target. Most of it comes through ptrace and /proc; the TID address and the
// signal stack only a thread itself can report, so each is one injected call
// per thread (all threads at once), whose result lands just below that
// thread's red zone (the bytes there are put back afterwards).
import { readFileSync } from 'node:fs';
import * as pt from './ptrace.js';
import { getAffinity, getRobustList, schedGetattr } from './libc.js';
import { checkResult, collectExit, NR, passEntry, startCall, type Call } from './inject.js';
import { reg } from './regs.js';
import type { CapState } from './caps.js';
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
  /** where the libc thread descriptor keeps this thread's TID (0: not found); filled in by clone-process from discoverLayout */
  tidField: bigint;
  /** struct stack_t (24 bytes) when a signal stack is set, else undefined */
  altstack?: Buffer;
  name: string;
  affinity: Buffer;
  sched: Buffer;
  /** the capability sets (and, when a user namespace is made, the securebits) */
  caps?: CapState;
}

const PR_GET_TID_ADDRESS = 40;
const SS_DISABLE = 2;
const SLOT_BYTES = 32;

/** A thread's own dead stack bytes below its red zone, for one call's result or argument. */
export const stackSlot = (regs: Buffer): bigint => (reg(regs, 'rsp') - 128n - 2n * BigInt(SLOT_BYTES)) & ~15n;

function readName(pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return '';
  }
}

/** The descriptor's TID field: glibc's clear_child_tid points at it; musl's does not, so look near the thread pointer. */
/**
 * Reads every thread's state. The two injected calls are pipelined: while one
 * thread's call runs, the tracer collects another's result and starts its next
 * call, and reads what ptrace can tell once a thread is stopped for good.
 * (Each call is two stops, entry and exit: see inject.ts.)
 */
export function captureThreads(tasks: TracedTask[], regsOf: Map<number, Buffer>, mem: ProcessMemory, insn: bigint, callBaseOf: Map<number, Buffer> = regsOf): ThreadState[] {
  const regs = tasks.map((t) => regsOf.get(t.tid)!);
  const bases = tasks.map((t) => callBaseOf.get(t.tid)!); // rsp at the thread's return frame (return-frame.ts)
  const slots = regs.map(stackSlot);
  const saved = slots.map((s) => mem.read(s, SLOT_BYTES));
  const tidCalls: Call[] = tasks.map((task, i) => ({ task, base: bases[i]!, nr: NR.prctl, args: [PR_GET_TID_ADDRESS, slots[i]!] }));
  const stackCalls: Call[] = tasks.map((task, i) => ({ task, base: bases[i]!, nr: NR.sigaltstack, args: [0, slots[i]!] }));
  try {
    for (const c of tidCalls) startCall(c, insn);
    for (const c of tidCalls) passEntry(c);
    const clearTids = tidCalls.map((c, i) => {
      checkResult('prctl(PR_GET_TID_ADDRESS)', c.task.tid, collectExit(c));
      const addr = mem.read(slots[i]!, 8).readBigUInt64LE(0);
      startCall(stackCalls[i]!, insn);
      return addr;
    });
    for (const c of stackCalls) passEntry(c);
    return tasks.map((task, i) => {
      const tid = task.tid;
      checkResult('sigaltstack', tid, collectExit(stackCalls[i]!));
      const ss = mem.read(slots[i]!, 24);
      const robust = getRobustList(tid);
      return {
        tid,
        regs: regs[i]!,
        xstate: pt.getXstate(tid),
        sigmask: task.savedMask ?? pt.getSigmask(tid), // its own, not the one blocked for our calls
        rseq: pt.getRseq(tid),
        robust,
        ownerList: robust.head,
        clearChildTid: clearTids[i]!,
        tidField: 0n, // set from the libc layout (libc-layout.ts discoverLayout), which needs every thread
        altstack: ss.readInt32LE(8) & SS_DISABLE ? undefined : ss,
        name: readName(task.tgid, tid),
        affinity: getAffinity(tid),
        sched: schedGetattr(tid),
      };
    });
  } finally {
    slots.forEach((s, i) => mem.write(s, saved[i]!));
  }
}
