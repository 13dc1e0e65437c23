// Everything a recreated thread needs, read from the stopped threads of the
// target. Most of it comes through ptrace and /proc; the TID address and the
// signal stack only a thread itself can report, so each is one injected call
// per thread (all threads at once), whose result lands just below that
// thread's red zone (the bytes there are put back afterwards).
import { readFileSync } from 'node:fs';
import * as pt from './ptrace.js';
import { getAffinity, getRobustList, schedGetattr } from './libc.js';
import { checkResult, NR, runChains, type Step } from './inject.js';
import { findDescTidOffset, tidFieldsAt } from './libc-layout.js';
import { statusValue } from '../proc/tasks.js';
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
  /** struct stack_t (24 bytes) when a signal stack is set, else undefined (also for a forker whose stack was not asked: captureThreads) */
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

/** A chain of one step. */
const once = (step: () => Step) => {
  let given = false;
  return () => (given ? undefined : ((given = true), step()));
};

/** A thread's own dead stack bytes below its red zone, for one call's result or argument. */
export const stackSlot = (regs: Buffer): bigint => (reg(regs, 'rsp') - 128n - 2n * BigInt(SLOT_BYTES)) & ~15n;

function readName(pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').replace(/\n$/, '');
  } catch {
    return '';
  }
}

/** What was already read of a thread while it is held (clone-process.ts), so that it is not asked twice. */
export interface KnownState {
  rseq?: pt.RseqConfig;
  sigmask?: Buffer;
  xstate?: Buffer;
  /** its /proc status text (readThreadStatus): the name is taken from it when no escape hides it */
  status?: string;
}

/** The thread's name: from its status text unless escaped there (a backslash), else from comm. */
function nameOf(pid: number, tid: number, status?: string): string {
  const name = status === undefined ? undefined : statusValue(status, 'Name');
  return name !== undefined && !name.includes('\\') ? name : readName(pid, tid);
}

/** What captureThreads may do besides reading. */
export interface CaptureOptions {
  /** the first thread's signal stack is not asked (its `altstack` is left undefined): the caller forks from it, and a fork keeps it */
  forkKeepsAltstack?: boolean;
  /**
   * More calls for the first thread once its own are answered (given its
   * clear-child-TID address), run while the other threads' calls are in
   * flight: the caller's fork. Called until it returns undefined.
   */
  forkerThen?: (clearChildTid: bigint) => Step | undefined;
  /** told the slots' original bytes (put back in the original here): a copy forked meanwhile needs them too */
  slotBytes?: (saved: { addr: bigint; data: Buffer }[]) => void;
}

/** ss_flags no kernel ever writes: a signal-stack slot still holding it got no answer. */
const NO_ANSWER = 0x7eadbeef;

/**
 * Reads every thread's state. Two things only the thread itself can tell are
 * asked by injected calls (each two stops, entry and exit: see inject.ts):
 * its signal stack, and its clear-child-TID address. Under glibc that
 * address is its descriptor's TID field (pthread_create and libc start-up
 * both register &pd->tid): with `glibc` set, only the first thread is asked,
 * and every other thread whose descriptor holds its TID at the same offset
 * from its thread pointer is taken to have it there; a thread where that
 * does not hold (no glibc descriptor) is asked too. See CaptureOptions for
 * the first thread's signal stack and the calls a caller may add to its chain.
 *
 * The target is held meanwhile, so the memory traffic is batched: the slots
 * are saved, marked and put back with one call each, and the signal stacks
 * of all threads but the first are read with one call after every thread has
 * answered (a thread's last call runs on into the signal-path stop, where its
 * registers are not read: its slot says whether the call answered).
 */
export function captureThreads(tasks: TracedTask[], regsOf: Map<number, Buffer>, mem: ProcessMemory, insn: bigint, callBaseOf: Map<number, Buffer> = regsOf, known?: Map<number, KnownState>, glibc = false, opts: CaptureOptions = {}): ThreadState[] {
  const regs = tasks.map((t) => regsOf.get(t.tid)!);
  const bases = tasks.map((t) => callBaseOf.get(t.tid)!); // rsp at the thread's return frame (return-frame.ts)
  const slots = regs.map(stackSlot);
  const saved = mem.readMany(slots.map((addr) => ({ addr, len: SLOT_BYTES })));
  opts.slotBytes?.(slots.map((addr, i) => ({ addr, data: saved[i]! })));
  const clearTids: (bigint | undefined)[] = tasks.map(() => undefined);
  const stacks: (Buffer | undefined)[] = [];
  const inSlot: number[] = []; // threads whose signal stack waits in their slot
  let tidOffset = -1; // glibc: the TID field's offset, from the first thread's answer
  const facts = (i: number) => ({ tid: tasks[i]!.tid, fsBase: reg(regs[i]!, 'fs_base'), clearChildTid: clearTids[i] ?? 0n, robustHead: 0n });
  const askTid = (i: number, last: boolean): Step => ({
    toSignalStop: last,
    nr: NR.prctl,
    args: [PR_GET_TID_ADDRESS, slots[i]!],
    done: (ret) => {
      checkResult('prctl(PR_GET_TID_ADDRESS)', tasks[i]!.tid, ret);
      clearTids[i] = mem.read(slots[i]!, 8).readBigUInt64LE(0);
      if (glibc && i === 0) tidOffset = findDescTidOffset(mem, 'glibc', [facts(0)]);
    },
  });
  const askStack = (i: number): Step => ({
    toSignalStop: i > 0, // most often its last call (the forker forks next): nothing then to undo in restore.ts
    resultInMemory: i > 0,
    nr: NR.sigaltstack,
    args: [0, slots[i]!],
    done: (ret) => {
      if (i > 0) return void inSlot.push(i); // read with the others' below
      checkResult('sigaltstack', tasks[i]!.tid, ret);
      stacks[i] = mem.read(slots[i]!, 24);
    },
  });
  const stackAsked = (i: number) => i > 0 || !opts.forkKeepsAltstack;
  try {
    const marked = tasks.map((_, i) => i).filter((i) => i > 0);
    const mark = Buffer.alloc(24);
    mark.writeInt32LE(NO_ANSWER, 8);
    mem.writeMany(marked.map((i) => ({ addr: slots[i]!, data: mark })));
    runChains(
      tasks.map((task, i) => {
        // glibc: only the first thread asks its TID address (the others' follows from its answer, below)
        const order = [...(glibc && i > 0 ? [] : ['tid']), ...(stackAsked(i) ? ['stack'] : [])];
        return {
          task,
          base: bases[i]!,
          next: () => {
            const what = order.shift();
            if (what === 'stack') return askStack(i);
            if (what === 'tid') return askTid(i, false);
            return i === 0 ? opts.forkerThen?.(clearTids[0] ?? 0n) : undefined;
          },
        };
      }),
      insn,
    );
    mem.readMany(inSlot.map((i) => ({ addr: slots[i]!, len: 24 }))).forEach((ss, k) => {
      const i = inSlot[k]!;
      if (ss.readInt32LE(8) === NO_ANSWER) throw new Error(`sigaltstack in thread ${tasks[i]!.tid} wrote no answer (EFAULT)`);
      stacks[i] = ss;
    });
    if (glibc) {
      // every other thread's TID field at the first one's offset, read at once; a thread where it does not hold is asked
      const others = tasks.map((_, i) => i).filter((i) => i > 0);
      tidFieldsAt(mem, others.map(facts), tidOffset).forEach((d, k) => {
        if (d) clearTids[others[k]!] = d;
      });
      const ask = others.filter((i) => clearTids[i] === undefined);
      if (ask.length) runChains(ask.map((i) => ({ task: tasks[i]!, base: bases[i]!, next: once(() => askTid(i, true)) })), insn);
    }
    return tasks.map((task, i) => {
      const tid = task.tid;
      const k = known?.get(tid);
      const ss = stacks[i];
      const robust = getRobustList(tid);
      return {
        tid,
        regs: regs[i]!,
        xstate: k?.xstate ?? pt.getXstate(tid),
        sigmask: task.savedMask ?? k?.sigmask ?? pt.getSigmask(tid), // its own, not the one blocked for our calls
        rseq: k?.rseq ?? pt.getRseq(tid),
        robust,
        ownerList: robust.head,
        clearChildTid: clearTids[i]!,
        tidField: 0n, // set from the libc layout (libc-layout.ts discoverLayout), which needs every thread
        altstack: !ss || ss.readInt32LE(8) & SS_DISABLE ? undefined : ss,
        name: nameOf(task.tgid, tid, k?.status),
        affinity: getAffinity(tid),
        sched: schedGetattr(tid),
      };
    });
  } finally {
    mem.writeMany(slots.map((addr, i) => ({ addr, data: saved[i]! })));
  }
}
