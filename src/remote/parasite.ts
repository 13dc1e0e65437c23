// Creating a clone's threads with the parasite (native/parasite/parasite.c)
// instead of one injected clone and several injected calls per thread: one
// injected mmap in the clone's only thread, the blob and a table of every
// thread's clone arguments and self-registered state written through
// /proc/PID/mem, the thread run there (every signal blocked) until the table
// says every thread is made and registered, then each thread seized and
// stopped where it parks, and the region unmapped. A handful of stops for the
// whole clone instead of several per thread. Only ever in a clone being
// built, never in the original; the clone has PTRACE_O_EXITKILL on its main
// thread, so if we die meanwhile it dies with us.
//
// The table's layout is native/parasite/parasite.h; offsets here follow it.
import { eagainHint } from './thread-limits.js';
import { existsSync, readFileSync } from 'node:fs';
import * as pt from './ptrace.js';
import { checkResult, collectAtSignalStop, injectSyscall, passEntryToSignalStop, startCall } from './inject.js';
import { napNs, schedYield, SyscallError } from './libc.js';
import { reg, setReg } from './regs.js';
import { TaskGone, TracedTask } from './task.js';
import { nativeArtifact } from '../native/paths.js';
import type { ProcessMemory } from './memory.js';
import type { ThreadState } from './capture.js';
import { readProcText } from '../proc/read-text.js';

const HEADER_BYTES = 64;
const EAGAIN = 11;
const SLOT_BYTES = 128;
const STACK_BYTES = 4096;
const H = { nthreads: 0, made: 4, restored: 8, finished: 12, cloneErr: 20, cloneFailedAt: 24, mainErr: 28, mainRobustHead: 32, mainRobustLen: 40 } as const;
const S = {
  flags: 0, stackTop: 8, ptid: 16, ctid: 24, tls: 32, robustHead: 40, robustLen: 48, rseqArea: 56, rseqSize: 64, rseqSig: 68,
  ss: 72, hasAltstack: 84, name: 96, tid: 112, err: 116, errCall: 120,
} as const;
const CALLS = ['', 'set_robust_list', 'rseq', 'sigaltstack', 'prctl(PR_SET_NAME)'];

const NR_mmap = 9;
const NR_munmap = 11;
const PROT_RWX = 7;
const MAP_PRIVATE_ANON = 0x22;
const ALL_SIGNALS = Buffer.alloc(8, 0xff);
/** How long the parasite may take to make every thread: generous, on a loaded machine. */
const FINISH_MS = 10_000;

let blob: Buffer | null | undefined;
/** The parasite's bytes; undefined when it is not built (the engine then makes threads by injected calls). */
export function parasiteBlob(): Buffer | undefined {
  if (blob === undefined) {
    try {
      const p = nativeArtifact('parasite.bin');
      blob = existsSync(p) ? readFileSync(p) : null;
    } catch {
      blob = null;
    }
  }
  return blob ?? undefined;
}

const align = (n: number, a: number) => Math.ceil(n / a) * a;

export class ParasiteFailed extends Error {}

/** What one thread's slot says: its clone arguments and what it registers itself. */
function writeSlot(b: Buffer, at: number, t: ThreadState, flags: bigint, stackTop: bigint, inheritedName: string): void {
  b.writeBigUInt64LE(flags, at + S.flags);
  b.writeBigUInt64LE(stackTop, at + S.stackTop);
  b.writeBigUInt64LE(t.tidField, at + S.ptid);
  b.writeBigUInt64LE(t.clearChildTid, at + S.ctid);
  b.writeBigUInt64LE(reg(t.regs, 'fs_base'), at + S.tls);
  b.writeBigUInt64LE(t.robust.head, at + S.robustHead);
  b.writeBigUInt64LE(t.robust.head ? t.robust.len : 0n, at + S.robustLen);
  b.writeBigUInt64LE(t.rseq.area, at + S.rseqArea);
  b.writeUInt32LE(t.rseq.size, at + S.rseqSize);
  b.writeUInt32LE(t.rseq.signature >>> 0, at + S.rseqSig);
  if (t.altstack) {
    t.altstack.copy(b, at + S.ss, 0, 24); // stack_t: ss_sp, ss_flags (+pad), ss_size
    b.writeUInt32LE(1, at + S.hasAltstack);
  }
  if (t.name !== inheritedName) b.write(t.name.slice(0, 15), at + S.name, 'utf8');
}

/**
 * Makes one thread per state in the stopped one-thread clone `main` (in a
 * syscall or event stop), each with its clone arguments (`cloneFlags`) and
 * its robust list, rseq, signal stack and name registered; returns them
 * seized and stopped, in the order of `states`, each also pushed to `built`
 * as soon as it is ours. `mainRobust`: main's own robust list, registered by
 * main first (a fork leaves the copy none; this saves an injected call).
 * `base`: main's registers for injected calls. A
 * ParasiteFailed before anything ran in the clone (no memory for it) means
 * the caller may make the threads its own way; any later failure is final.
 */
export function makeThreadsByParasite(main: TracedTask, base: Buffer, insn: bigint, mem: ProcessMemory, states: ThreadState[], cloneFlags: (t: ThreadState) => bigint, inheritedName: string, built: TracedTask[], mainRobust: ThreadState['robust']): TracedTask[] {
  const code = parasiteBlob();
  if (!code) throw new ParasiteFailed('the parasite is not built');
  const n = states.length;
  const tableOff = align(code.length, 64);
  const stacksOff = align(tableOff + HEADER_BYTES + n * SLOT_BYTES, 4096);
  const size = stacksOff + (n + 1) * STACK_BYTES;
  const at = injectSyscall(main, insn, base, NR_mmap, [0, size, PROT_RWX, MAP_PRIVATE_ANON, -1, 0]);
  if (at < 0n && at > -4096n) throw new ParasiteFailed(`mmap for the parasite in the clone failed (${at})`);
  const table = at + BigInt(tableOff);
  const stackTop = (i: number) => at + BigInt(stacksOff + (i + 1) * STACK_BYTES); // 16-aligned; stack 0 is main's
  const img = Buffer.alloc(stacksOff);
  code.copy(img, 0);
  img.writeUInt32LE(n, tableOff + H.nthreads);
  if (mainRobust.head) {
    img.writeBigUInt64LE(mainRobust.head, tableOff + H.mainRobustHead);
    img.writeBigUInt64LE(mainRobust.len, tableOff + H.mainRobustLen);
  }
  states.forEach((t, i) => writeSlot(img, tableOff + HEADER_BYTES + i * SLOT_BYTES, t, cloneFlags(t), stackTop(i + 1), inheritedName));
  mem.write(at, img);
  // run it: main on stack 0, every signal blocked (the threads it makes inherit that)
  const r = Buffer.from(base);
  setReg(r, 'rip', at);
  setReg(r, 'rdi', table);
  setReg(r, 'rsp', stackTop(0) - 8n); // as after a call
  setReg(r, 'orig_rax', -1n); // no restart of the call main was stopped in
  pt.setRegs(main.tid, r);
  pt.setSigmask(main.tid, ALL_SIGNALS);
  pt.cont(main.tid);
  main.inSyscallStop = false;
  const head = waitFinished(main, mem, table);
  const made = head.readUInt32LE(H.made);
  const slots = mem.read(table + BigInt(HEADER_BYTES), n * SLOT_BYTES);
  const tids = states.map((_, i) => slots.readInt32LE(i * SLOT_BYTES + S.tid));
  // ours before anything else: a failure below kills and collects them
  const tasks = tids.slice(0, made).map((tid) => {
    pt.seize(tid, pt.OPT.EXITKILL | pt.OPT.TRACESYSGOOD);
    const t = new TracedTask(main.tgid, tid);
    built.push(t);
    pt.interrupt(tid);
    return t;
  });
  pt.interrupt(main.tid);
  for (const t of [...tasks, main]) t.waitEventStop();
  checkResult('set_robust_list (by the parasite, in the main thread)', main.tid, BigInt(head.readInt32LE(H.mainErr)));
  const cloneErr = head.readInt32LE(H.cloneErr);
  if (cloneErr) {
    const i = head.readUInt32LE(H.cloneFailedAt);
    throw new Error(`clone for thread ${states[i]!.tid} (the parasite's) failed: ${-cloneErr === EAGAIN ? eagainHint(main.tgid) : `errno ${-cloneErr}`}`);
  }
  states.forEach((t, i) => {
    const err = slots.readInt32LE(i * SLOT_BYTES + S.err);
    if (err) checkResult(`${CALLS[slots.readUInt32LE(i * SLOT_BYTES + S.errCall)] ?? 'a call'} (by the parasite)`, tids[i]!, BigInt(err));
  });
  // main's last call runs on into a stop inside the kernel's signal path, as
  // the parked threads are: let go from there with its own registers, the
  // kernel makes its interrupted call again itself (no run to that call's
  // entry, recreate.ts reenterCalls, one stop fewer)
  const unmap = { task: main, base, nr: NR_munmap, args: [at, size] };
  startCall(unmap, insn);
  passEntryToSignalStop(unmap);
  checkResult('munmap (the parasite)', main.tid, collectAtSignalStop(unmap));
  return tasks;
}

/** Polls the table until the parasite says it is done; main dying or stopping otherwise is an error. */
function waitFinished(main: TracedTask, mem: ProcessMemory, table: bigint): Buffer {
  const giveUp = Date.now() + FINISH_MS;
  for (let i = 0; ; i++) {
    const head = mem.read(table, HEADER_BYTES);
    if (head.readUInt32LE(H.finished)) return head;
    if (i % 256 === 255) {
      if (Date.now() > giveUp) throw new Error(`the parasite did not finish making ${head.readUInt32LE(H.nthreads)} threads in ${FINISH_MS / 1000} s (made ${head.readUInt32LE(H.made)}, registered ${head.readUInt32LE(H.restored)})`);
      if (!isRunning(main)) throw new TaskGone(main.tid, 'stopped or died while the parasite ran');
    }
    if (i < 64) schedYield();
    else napNs(20_000);
  }
}

/** Whether main is still running the parasite (not dead, not in a stop), from its /proc stat. */
function isRunning(main: TracedTask): boolean {
  try {
    const stat = readProcText(`/proc/${main.tgid}/task/${main.tid}/stat`);
    return /\) [RSD] /.test(stat);
  } catch (e) {
    if (e instanceof SyscallError) throw e;
    return false;
  }
}
