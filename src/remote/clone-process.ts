// The remote engine's one operation: clone process `pid`, with every thread,
// `count` times, from outside. Synchronous, on the thread that attaches.
//
// Order, chosen so the original is held as briefly as possible and always
// given back whole: seize every thread → read every thread's state (the
// copies are forked meanwhile, as soon as the forker's own state is read) →
// give every original thread its exact registers back and detach → only
// then build each copy's threads. Everything while held is counted in system
// calls: each one lengthens the hold. Any failure before the
// originals are released restores and releases them; a copy that cannot be
// finished is killed.
import * as pt from './ptrace.js';
import { captureThreads, type KnownState, type ThreadState } from './capture.js';
import { CAP_SYS_ADMIN, has, readCapState } from './caps.js';
import { injectAll, InjectedCallFailed, NR, type Step } from './inject.js';
import { RemoteError } from './errors.js';
import { SyscallError } from './libc.js';
import { ProcessMemory } from './memory.js';
import { diagnoseDenied, preflight } from './preflight.js';
import { buildClone, forkArgs, injectFork } from './recreate.js';
import { reg } from './regs.js';
import { discoverLayout, findDescTidOffset, identifyLibc, tidFieldsAt, type LibcLayout } from './libc-layout.js';
import { restoreThreads } from './restore.js';
import { seizeAll } from './seize.js';
import { readSecurity, refusal } from './refusals.js';
import { dontForkRanges, markDontFork, type Range } from './dontfork.js';
import { findSyscallInsn, holdsStackPointer, readMaps, type Mapping } from './syscall-insn.js';
import { findReturnPath, ReturnFrames } from './return-frame.js';
import { abortRseqSection, rseqCsField } from './rseq-cs.js';
import { blockedMask, StatusFiles } from './status-files.js';
import { waitLeader, waitTask } from './wait.js';
import { injectNamespaceCopy, makeExactChild } from './exact.js';
import { toolBinary } from '../native/paths.js';
import { TaskGone, type TracedTask } from './task.js';
import { readFileSync } from 'node:fs';
import { stackSlot } from './capture.js';
import { planPrivateFds } from './private/snapshot-fds.js';
import { readEarlyFdState } from './private/snapshot-socketpairs.js';
import { installPrivateFds } from './private/install-fds.js';
import type { NotCopied } from './private/plan.js';
import { refuseAsyncio, refuseGoProgram } from './tid-caching.js';
import { blamePid } from '../errors.js';
import { statusValue } from '../proc/tasks.js';
import { readProcText } from '../proc/read-text.js';

export interface RemoteCloneOptions {
  /** how many clones (default 1) */
  count?: number;
  /** leave each clone stopped (SIGSTOP) and detached, for a debugger to pick up */
  stopped?: boolean;
  /** same PID and TIDs in the clone: it runs in a PID namespace of its own under a small init */
  exactTids?: boolean;
  /** the clone gets its own copies of epoll, eventfd, timerfd, signalfd, inotify and self-pipes (default true; false: shared as after fork) */
  privateFds?: boolean;
  /** false: build the clone's threads by injected calls, not by the parasite (native/parasite; default true) */
  parasite?: boolean;
  /** called between steps; returning true abandons the operation (nothing is left changed) */
  shouldAbort?: () => boolean;
}

export interface RemoteClone {
  pid: number;
  threads: number;
  /** lock words whose owner TID was rewritten (robust lists, ld.so locks) */
  ownersFixed: number;
  /** original TID -> the clone's TID (as seen from outside) */
  tids: Record<number, number>;
  /** exact TIDs: the clone's own PID seen from outside (`pid` is its namespace's init, which exits with its status) */
  childPid?: number;
  /** private event objects: how many the clone got copies of (absent with privateFds: false) */
  privateFds?: number;
  /** descriptors not copied faithfully, and how each behaves in the clone (docs/semantics.md) */
  notCopied?: NotCopied[];
}

export interface RemoteCloneResult {
  pid: number;
  threads: number;
  clones: RemoteClone[];
  /** microseconds the original was held stopped */
  heldUs: number;
  /** microseconds for the whole operation */
  totalUs: number;
  /** what this clone could not do because the target's libc layout was not fully found (new TIDs: lock owners or descriptor TIDs not rewritten); empty when nothing degraded */
  warnings: string[];
  /** microseconds per step: preflight, seize, maps, capture, fork, release (the original runs again), build */
  phasesUs: Record<string, number>;
}

const now = () => performance.now();

class Abandoned extends RemoteError {
  constructor() {
    super('abandoned: the controller went away before the clone was made; the target was left as it was', 'failed');
  }
}

function wrap(pid: number, e: unknown): unknown {
  if (e instanceof ThreadExiting) return e;
  if (e instanceof RemoteError) return e;
  if (e instanceof SyscallError && e.errno === 3) return new RemoteError(`process ${pid} exited during the clone (${e.message})`, 'no-such-process');
  return new RemoteError(`cloning PID ${pid} failed: ${e instanceof Error ? e.message : String(e)}; the target was restored`, 'failed');
}

function killClone(pid: number, tasks: TracedTask[] = []): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
  for (const t of tasks) t.detached = true;
}

/** Clears the MADV_DONTFORK marks in the original so that a fork copies those ranges. */
function clearDontFork(forker: TracedTask, insn: bigint, base: Buffer, ranges: Range[], pid: number): void {
  const stuck = markDontFork(forker, insn, base, ranges, false);
  if (stuck.length)
    throw new RemoteError(`PID ${pid}: cannot clear MADV_DONTFORK on ${stuck.length} mapping(s) (first at 0x${stuck[0]!.start.toString(16)}); they would be missing in the clone`, 'failed');
}

function lacksMappings(original: Mapping[], copyPid: number): boolean {
  const copy = new Set(readMaps(copyPid).map((m) => `${m.start}-${m.end}`));
  return original.some((m) => !copy.has(`${m.start}-${m.end}`));
}

/**
 * Whether the copy lacks a mapping of the held original. A fork copies every
 * mapping but those marked not to be copied and takes their pages off the
 * copy's total size, so the sizes are equal exactly when nothing was left
 * out: the copy's /proc statm (one short read) against the original's
 * VmSize, read while held (`status`: a thread's status text). Without a
 * VmSize, the two maps are compared.
 */
function copyLacksMappings(status: string | undefined, original: Mapping[], copyPid: number): boolean {
  const kb = /^(\d+) kB$/.exec(status === undefined ? '' : statusValue(status, 'VmSize') ?? '')?.[1];
  if (kb === undefined) return lacksMappings(original, copyPid);
  const pages = Number(readProcText(`/proc/${copyPid}/statm`).split(' ')[0]);
  return pages * 4 !== Number(kb); // x86-64: 4 kB pages
}

class CloneDied extends Error {}

const PR_GET_SECUREBITS = 27;

/** A new user namespace resets the securebits: read each original thread's, to give them back. */
function readSecurebits(tasks: TracedTask[], states: ThreadState[], callBase: Map<number, Buffer>, insn: bigint): void {
  const rets = injectAll(tasks.map((task) => ({ task, base: callBase.get(task.tid)!, nr: NR.prctl, args: [PR_GET_SECUREBITS, 0, 0, 0, 0] })), insn);
  rets.forEach((r, i) => {
    if (r < 0n) throw new RemoteError(`PID ${tasks[i]!.tgid}: prctl(PR_GET_SECUREBITS) in thread ${tasks[i]!.tid} failed (${r})`, 'failed');
    states[i]!.caps!.securebits = Number(r);
  });
}

const alive = (pid: number): boolean => {
  try {
    return !/\) [ZX] /.test(readProcText(`/proc/${pid}/stat`));
  } catch {
    return false;
  }
};

/**
 * Lets every thread of a built clone go; a thread that cannot be detached
 * died (killed from outside while being built), and so did the clone: it is
 * never reported as made.
 */
function releaseWhole(tasks: TracedTask[], main: number): void {
  const lost = tasks.slice(1).filter((t) => !t.release());
  if (!tasks[0]!.release()) lost.unshift(tasks[0]!);
  if (lost.length || !alive(main)) throw new CloneDied(`thread ${lost[0]?.tid ?? main} was gone when it was to be let go`);
}

/** SIGKILL for a clone being built (its init too, in exact mode), and each traced thread collected. */
function killAndReap(pids: number[], built: TracedTask[]): void {
  for (const p of new Set(pids)) killClone(p);
  for (const t of [...built].sort((a, b) => Number(a.tid === a.tgid) - Number(b.tid === b.tgid))) { // the leader last
    try {
      const wait = () => (t.tid === t.tgid ? waitLeader(t.tid) : waitTask(t.tid));
      for (let w = wait(); w.kind === 'stopped'; w = wait());
    } catch {
      // already collected, or not ours
    }
    t.detached = true;
  }
}

/** What to tell the caller when clone `cpid` could not be made (it has been killed and collected). */
function cloneFailure(pid: number, cpid: number, died: boolean, e: unknown): RemoteError {
  const detail = e instanceof Error ? e.message : String(e);
  if (e instanceof Abandoned) return e;
  if (died) return new RemoteError(`clone ${cpid} of process ${pid} died while being built (${detail}); it was not made; the target was not affected`, 'failed');
  return new RemoteError(`clone ${cpid} of process ${pid} could not be built: ${detail}; it was killed; the target was not affected`, 'failed');
}

/** Kills a copy that is still stopped under us and collects it (as its tracer). */
function reapKilled(pid: number): void {
  killClone(pid);
  reapTracedChildren(pid);
  try {
    waitTask(pid);
  } catch {
    // already collected
  }
}

/**
 * Kills and collects the children of `pid` that we trace. An exact-TID copy is
 * a namespace init whose child (the clone, CLONE_PTRACE) is traced by us; a
 * dying init waits for every process of its namespace to be collected, and the
 * child's exit goes to us first: waiting on the init before the child would
 * wait forever.
 */
function reapTracedChildren(pid: number): void {
  let kids: number[] = [];
  try {
    kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').split(' ').filter(Boolean).map(Number);
  } catch {
    return; // gone already
  }
  for (const k of kids) {
    killClone(k);
    try {
      for (let w = waitLeader(k); w.kind === 'stopped'; w = waitLeader(k));
    } catch {
      // not traced by us (its parent collects it), or already collected
    }
  }
}

/**
 * A thread held with its stack pointer outside every mapping is on its way out:
 * musl's detached-thread exit unmaps its own stack and then calls exit, using
 * no stack in between. Nothing can be written below its stack pointer, and it
 * will be gone in a moment: give everything back and try again.
 */
class ThreadExiting extends Error {
  constructor(readonly tid: number) {
    super(`thread ${tid} was exiting (its stack already unmapped)`);
  }
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/** Clones process `pid` with all its threads on the calling thread (blocks it); a failure is a RemoteError naming `pid`. */
export function cloneProcessSync(pid: number, opts: RemoteCloneOptions = {}): RemoteCloneResult {
  const giveUpAt = Date.now() + 3000; // an exiting thread is gone in microseconds; 3 s is generous
  for (let attempt = 1; ; attempt++) {
    try {
      return cloneOnce(pid, opts);
    } catch (e) {
      if (!(e instanceof ThreadExiting)) throw e;
      if (Date.now() > giveUpAt || opts.shouldAbort?.())
        throw new RemoteError(`cloning PID ${pid} failed: ${e.message} for 3 s (${attempt} tries); the target was restored each time`, 'failed');
      sleepMs(Math.min(2 * attempt, 50));
    }
  }
}

function cloneOnce(pid: number, opts: RemoteCloneOptions): RemoteCloneResult {
  try {
    return cloneOnCallingThread(pid, opts);
  } catch (e) {
    throw blamePid(e, pid);
  }
}

function cloneOnCallingThread(pid: number, opts: RemoteCloneOptions): RemoteCloneResult {
  const t0 = now();
  const phasesUs: Record<string, number> = {};
  let last = t0;
  const mark = (phase: string) => {
    const t = now();
    phasesUs[phase] = Math.round((t - last) * 1000);
    last = t;
  };
  preflight(pid);
  if (!opts.exactTids) refuseGoProgram(pid); // asyncio: on the maps read while held
  const fdEarly = opts.privateFds === false ? undefined : readEarlyFdState(pid);
  const statusFiles = new StatusFiles(pid); // opened now, read while held
  mark('preflight');
  try {
    return heldClone(pid, opts, { statusFiles, fdEarly, t0, phasesUs, mark });
  } finally {
    statusFiles.close();
  }
}

/** What the steps before the seize hand over to the rest. */
interface Prepared {
  statusFiles: StatusFiles;
  fdEarly: ReturnType<typeof readEarlyFdState> | undefined;
  t0: number;
  phasesUs: Record<string, number>;
  mark: (phase: string) => void;
}

function heldClone(pid: number, opts: RemoteCloneOptions, { statusFiles, fdEarly, t0, phasesUs, mark }: Prepared): RemoteCloneResult {
  const count = opts.count ?? 1;
  const abort = opts.shouldAbort ?? (() => false);
  const originals = seizeAll(pid, (e) => diagnoseDenied(pid, e));
  const tHeld = now();
  mark('seize');
  const firstRegs = new Map<number, Buffer>();
  /** what calls injected into each original thread start from: rsp at its return frame */
  const callBase = new Map<number, Buffer>();
  let frames: ReturnFrames | undefined;
  let insn = 0n;
  let mem: ProcessMemory | undefined;
  const forked: number[] = [];
  const inits: TracedTask[] = []; // exact TIDs: the namespace copies, one per clone
  const clones: RemoteClone[] = [];
  let states: ThreadState[] = [];
  let layout: LibcLayout | undefined;
  let released = false;
  let dontFork: Range[] = [];
  let forkMarksCleared = false;
  const giveBack = () => {
    if (released) return;
    if (forkMarksCleared) markDontFork(originals[0]!, insn, callBase.get(originals[0]!.tid)!, dontFork, true);
    forkMarksCleared = false;
    restoreThreads(originals, (t) => firstRegs.get(t.tid));
    frames?.restoreMemory();
    for (const t of originals) t.release();
    released = true;
  };
  try {
    for (const t of originals) firstRegs.set(t.tid, pt.getRegs(t.tid));
    // each thread's /proc status is read once, while held: refusals, capabilities and name come from it
    const status = new Map(originals.map((t) => [t.tid, statusFiles.read(t.tid)]));
    const refused = refusal(pid, originals.map((t) => readSecurity(pid, t.tid, status.get(t.tid))));
    if (refused) throw refused;
    const forker = originals[0]!;
    mem = new ProcessMemory(pid);
    const maps = readMaps(pid);
    if (!opts.exactTids) refuseAsyncio(pid, maps);
    for (const t of originals) {
      const sp = reg(firstRegs.get(t.tid)!, 'rsp');
      if (!holdsStackPointer(maps, sp)) throw new ThreadExiting(t.tid);
    }
    // what ptrace tells of each thread is read once and handed to the capture;
    // a thread stopped inside an rseq critical section takes its abort, as on any preemption
    const known = new Map<number, KnownState>();
    for (const t of originals) {
      const sigmask = blockedMask(status.get(t.tid)) ?? pt.getSigmask(t.tid); // SigBlk: one ptrace request fewer per thread
      known.set(t.tid, { rseq: pt.getRseq(t.tid), sigmask, xstate: pt.getXstate(t.tid), status: status.get(t.tid) });
      t.knownMask = sigmask;
    }
    const csFields = mem.tryReadMany(originals.map((t) => rseqCsField(known.get(t.tid)!.rseq!))); // every thread's at once
    originals.forEach((t, i) => {
      const moved = abortRseqSection(mem!, firstRegs.get(t.tid)!, known.get(t.tid)!.rseq!, csFields[i]);
      if (moved) firstRegs.set(t.tid, moved);
    });
    const path = findReturnPath(maps, mem);
    insn = path?.gadget ?? findSyscallInsn(maps, mem);
    if (path) frames = new ReturnFrames(mem, path, true);
    for (const t of originals) {
      const regs = firstRegs.get(t.tid)!;
      const k = known.get(t.tid)!;
      callBase.set(t.tid, frames ? frames.protect(regs, k.sigmask!, k.xstate!) : regs);
    }
    const forkerBase = callBase.get(forker.tid)!;
    const childStack = frames?.childStack(forkerBase) ?? 0n;
    frames?.flush(); // every frame in one write
    mark('maps');
    // the stack pointer the clone's new threads make their injected calls with (no memory is used there)
    const callStack = (reg(firstRegs.get(forker.tid)!, 'rsp') - 4096n) & ~63n;
    const libc = identifyLibc(pid, maps);
    if (abort()) throw new Abandoned();
    // Without exact TIDs the forker forks as soon as its own answer is in,
    // while the other threads' calls are still in flight: the copy needs
    // only the forker's clear-child-TID address and TID field, and every
    // thread stays held until the release. The slots those calls write are
    // put back in each copy as in the original.
    const overlap = !opts.exactTids;
    let forkError: unknown;
    let forkerTidField: bigint | undefined;
    const forkerThen = (clearChildTid: bigint): Step | undefined => {
      if (forkError !== undefined || forked.length >= count) return undefined;
      if (forkerTidField === undefined) {
        // what discoverLayout finds for the forker below (it looks at the forker first)
        const facts = { tid: forker.tid, fsBase: reg(firstRegs.get(forker.tid)!, 'fs_base'), clearChildTid, robustHead: 0n };
        forkerTidField = tidFieldsAt(mem!, [facts], findDescTidOffset(mem!, libc.kind, [facts]))[0]!;
      }
      return {
        nr: NR.clone,
        args: forkArgs({ clearChildTid, tidField: forkerTidField }, childStack),
        done: (ret) => {
          // kept until every thread's call is in: a throw here would leave them mid-call
          if (ret < 0n && ret > -4096n) forkError = new InjectedCallFailed('clone', forker.tid, Number(-ret));
          else forked.push(Number(ret));
        },
      };
    };
    const slotBytes: { addr: bigint; data: Buffer }[] = [];
    // the forker's signal stack is not asked: every copy is forked from it, and a fork keeps it
    states = captureThreads(originals, firstRegs, mem, insn, callBase, known, libc.kind === 'glibc', {
      forkKeepsAltstack: true,
      ...(overlap ? { forkerThen } : {}),
      slotBytes: (saved) => slotBytes.push(...saved),
    });
    if (forkError !== undefined) throw forkError;
    const forkedEarly = forked.length;
    for (const s of states) s.caps = readCapState(pid, s.tid, status.get(s.tid));
    // exact TIDs: the namespaces are made by the forker, inside the target; without
    // CAP_SYS_ADMIN there (whoever we are) it needs a user namespace of its own
    const userns = !!opts.exactTids && !has(states[0]!.caps!.eff, CAP_SYS_ADMIN);
    if (userns) readSecurebits(originals, states, callBase, insn);
    mark('capture');
    layout = discoverLayout(pid, mem, maps, states.map((s) => ({ tid: s.tid, fsBase: reg(s.regs, 'fs_base'), clearChildTid: s.clearChildTid, robustHead: s.robust.head })), false, libc);
    for (const s of states) s.tidField = layout.tidField.get(s.tid) ?? 0n;
    if (layout.ownerListOffset > 0)
      for (const s of states) if (!s.ownerList && reg(s.regs, 'fs_base')) s.ownerList = reg(s.regs, 'fs_base') + BigInt(layout.ownerListOffset);
    // read while held: the event objects as the threads last left them
    const fdPlan = fdEarly && planPrivateFds(pid, fdEarly);
    mark('fds');
    if (abort()) throw new Abandoned();
    const f = states[0]!;
    if (forkedEarly && forkArgs({ clearChildTid: f.clearChildTid, tidField: forkerTidField ?? 0n }, childStack)[0] !== forkArgs(f, childStack)[0])
      throw new Error(`thread ${forker.tid} forked with clone flags that its libc layout, found after, does not give (TID field 0x${(forkerTidField ?? 0n).toString(16)} against 0x${f.tidField.toString(16)})`);
    if (opts.exactTids) {
      // each copy is the init of a namespace of its own; smaps is read up front
      dontFork = dontForkRanges(pid);
      forkMarksCleared = dontFork.length > 0;
      clearDontFork(forker, insn, forkerBase, dontFork, pid);
      for (let i = 0; i < count; i++) inits.push(injectNamespaceCopy(forker, f, insn, mem, userns, forkerBase, childStack));
      forked.push(...inits.map((t) => t.tid));
    } else {
      while (forked.length < count) forked.push(injectFork(forker, f, insn, forkerBase, childStack)); // made during the capture, normally
      // A fork leaves out MADV_DONTFORK ranges (V8 marks its whole heap so).
      // smaps, which lists the marks, is slow to read, so look only when the
      // copy lacks a mapping the original has; then fork again, marks cleared.
      if (copyLacksMappings(status.get(forker.tid), maps, forked[0]!)) {
        for (const c of forked.splice(0)) reapKilled(c);
        dontFork = dontForkRanges(pid);
        forkMarksCleared = dontFork.length > 0;
        clearDontFork(forker, insn, forkerBase, dontFork, pid);
        for (let i = 0; i < count; i++) forked.push(injectFork(forker, f, insn, forkerBase, childStack));
      }
    }
    mark('fork');
    giveBack();
    const tReleased = now();
    mark('release');
    forked.forEach((cpid, i) => {
      const built: TracedTask[] = [];
      let main = cpid;
      try {
        if (abort()) throw new Abandoned();
        // exact TIDs: cpid is the namespace init (it reports the clone's status); the clone is its child
        if (inits[i]) main = makeExactChild(inits[i]!, f, insn, callStack, userns, toolBinary('forkall-ns-init'));
        let notCopied: NotCopied[] | undefined;
        const beforeThreads = fdPlan && ((task: TracedTask, base: Buffer, cmem: ProcessMemory) => {
          notCopied = installPrivateFds({ main: task, base, insn, mem: cmem, scratch: stackSlot(f.regs) }, fdPlan);
        });
        const c = buildClone(main, f, states.slice(1), { insn, maps, callStack, dontFork, exact: opts.exactTids, userns, parasite: opts.parasite, layout: layout!, beforeThreads, restoreStacks: (m) => {
          frames?.restoreInto(m);
          m.writeMany(slotBytes); // a copy forked during the capture has the slots as the calls left them
        } }, built);
        if (opts.stopped) process.kill(main, 'SIGSTOP');
        releaseWhole(c.tasks, main);
        clones.push({ pid: cpid, threads: c.tasks.length, ownersFixed: c.ownersFixed, tids: Object.fromEntries(c.tids), ...(inits[i] ? { childPid: main } : {}), ...(fdPlan ? { privateFds: fdPlan.objects.length, notCopied: notCopied ?? [] } : {}) });
      } catch (e) {
        const died = !alive(main) || e instanceof TaskGone || e instanceof CloneDied || (e instanceof SyscallError && e.errno === 3);
        killAndReap([cpid, main], built);
        throw cloneFailure(pid, main, died, e);
      }
    });
    mark('build');
    // with exact TIDs nothing needs rewriting, so nothing the layout lacks degrades the clone
    const warnings = opts.exactTids ? [] : layout!.warnings;
    return { pid, threads: originals.length, clones, warnings, phasesUs, heldUs: Math.round((tReleased - tHeld) * 1000), totalUs: Math.round((now() - t0) * 1000) };
  } catch (e) {
    // one clone failed: the request failed; clones made before it are ended too, as nobody will learn their PIDs
    for (const c of clones) killClone(c.pid);
    for (const c of forked) if (!clones.some((d) => d.pid === c)) reapKilled(c);
    try {
      giveBack();
    } catch (restoreErr) {
      throw new RemoteError(`cloning PID ${pid} failed (${String(e)}) and restoring it failed too: ${String(restoreErr)}`, 'failed');
    }
    throw wrap(pid, e);
  } finally {
    mem?.close();
  }
}
