// cloneAsChildOf: the copy of a tree member C, made a child of X (the copy
// of C's parent: the kernel makes a new task the child of its creator) and
// turned into an image of C by calls injected into it. The copy is ours
// from its first instruction, so whatever runs in it runs with X's rights
// only; the original C is held and only read (brk(0) and rt_sigaction reads
// injected into it leave it as it was). Order:
//   1. X forks the copy (CLONE_PTRACE: stopped and traced by us);
//   2. its inherited rseq registration (X's area) is dropped while X's memory is there;
//   3. memory: C's mappings, only the pages that differ from X's
//      (adopt-memory.ts), the bulk of them copied by the copy itself in a
//      call left running (page-copy.ts): cloneAsChildOf returns here, and
//      the caller makes other members' copies meanwhile;
//   then `settle`, once that call is collected (before C is given back):
//   4. mm fields, signal dispositions, descriptors, namespaces and cgroup,
//      process attributes (cwd, root, umask, rlimits, personality, name),
//      credentials (ids, groups, capabilities: adopt-creds.ts), prctl settings;
//   5. the leader's own thread state fork does not give (TID address, TID
//      field, signal stack, rseq);
// and later, when the tree is given back, `build` makes C's other threads
// with the one-process engine's build path (recreate.ts buildClone).
import * as pt from '../ptrace.js';
import { checkResult, injectSyscall } from '../inject.js';
import { buildClone } from '../recreate.js';
import { RemoteError } from '../errors.js';
import { stackSlot } from '../capture.js';
import { installPrivateFds } from '../private/install-fds.js';
import type { NotCopied } from '../private/plan.js';
import type { ProcessMemory } from '../memory.js';
import { TracedTask } from '../task.js';
import { tgkill } from '../libc.js';
import { waitLeader } from '../wait.js';
import { CopyCalls, NR_ADOPT, SourceCalls, withRsp } from './adopt-calls.js';
import { adoptMemory } from './adopt-memory.js';
import { adoptMm } from './adopt-mm.js';
import { adoptSignals } from './adopt-signals.js';
import { adoptFds } from './adopt-fds.js';
import { exactFork } from './exact-fork.js';
import { adoptNamespaces } from './adopt-namespaces.js';
import { adoptPrctl, restoreIdSensitive, type IdSensitive } from './adopt-prctl.js';
import { adoptProcess, exitSignal } from './adopt-process.js';
import { refuseAdoption } from './adopt-refusals.js';
import { adoptRlimits } from './adopt-rlimits.js';
import { adoptGroups, giveUser, type UserStep } from './adopt-creds.js';
import type { AdoptedCopy, AdoptOptions, AdoptParent, AdoptSource, AdoptStats } from './adopt-types.js';

export type { AdoptedCopy, AdoptOptions, AdoptParent, AdoptSource, AdoptStats } from './adopt-types.js';

const CLONE_PTRACE = 0x2000;
const RSEQ_FLAG_UNREGISTER = 1;
const SS_DISABLE = 2;

function killCopy(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  try {
    for (let w = waitLeader(pid); w.kind === 'stopped'; w = waitLeader(pid));
  } catch {
    // collected already
  }
}

/** Gives the copy's leader what fork gave it from X's forker and C's leader has otherwise. */
function adoptLeaderThread(calls: CopyCalls, tid: number, source: AdoptSource): void {
  const f = source.states[0]!;
  calls.call('set_tid_address', NR_ADOPT.set_tid_address, [f.clearChildTid]);
  if (f.tidField) {
    const b = Buffer.alloc(4);
    b.writeInt32LE(tid, 0);
    calls.mem.write(f.tidField, b); // libc's cached TID: the copy's own
  }
  const ss = f.altstack ?? (() => {
    const d = Buffer.alloc(24);
    d.writeInt32LE(SS_DISABLE, 8);
    return d;
  })();
  calls.call('sigaltstack', NR_ADOPT.sigaltstack, [calls.arg(ss, 2560), 0]);
  if (f.rseq.area) calls.call('rseq registration', NR_ADOPT.rseq, [f.rseq.area, f.rseq.size, 0, f.rseq.signature]);
}

/**
 * Makes `parent` fork a child and turns it into an image of the held
 * `source` (memory, mm fields, signal dispositions, descriptors, cwd/root,
 * umask, rlimits, personality, no_new_privs, name). On failure the child is
 * killed and collected; `parent` is left in a ptrace stop either way.
 */
export function cloneAsChildOf<S extends AdoptSource>(parent: AdoptParent, source: S, opts: AdoptOptions = {}): AdoptedCopy<S> {
  parent.settle?.(); // a copy still filling its memory: complete before it forks
  const src = source.pid;
  const abort = () => {
    if (opts.shouldAbort?.()) throw new RemoteError(`abandoned while copying PID ${src}`, 'failed');
  };
  const phasesUs: Record<string, number> = {};
  let last = performance.now();
  const mark = (phase: string) => {
    const t = performance.now();
    phasesUs[phase] = Math.round((t - last) * 1000);
    last = t;
  };
  refuseAdoption(src, parent.pid);
  if (!source.layout) throw new RemoteError(`PID ${src}: its libc layout was not read; it cannot be built`, 'failed');
  const f = source.states[0]!;
  const cpid = opts.exact
    ? exactFork(parent, src, exitSignal(src), `the copy of ${src}`) // PID `src` in the tree's namespace
    : Number(checkResult(`clone (the copy of ${src})`, parent.main.tid, injectSyscall(parent.main, parent.insn, parent.base, NR_ADOPT.clone, [CLONE_PTRACE | exitSignal(src), 0, 0, 0, 0])));
  const main = new TracedTask(cpid, cpid);
  const base = withRsp(f.regs, source.callStack);
  let calls: CopyCalls | undefined;
  try {
    main.waitEventStop();
    pt.setOptions(cpid, pt.OPT.EXITKILL | pt.OPT.TRACESYSGOOD);
    mark('fork');
    calls = new CopyCalls(main, withRsp(parent.base, source.callStack), parent.insn);
    const inherited = pt.getRseq(cpid);
    if (inherited.area) calls.call("rseq unregistration (X's area)", NR_ADOPT.rseq, [inherited.area, inherited.size, RSEQ_FLAG_UNREGISTER, inherited.signature]);
    const srcCalls = new SourceCalls(source);
    abort();
    // in an exact-TID namespace C's PID names C' itself: there the engine writes every page
    const { stats: mem, pages } = adoptMemory(calls, cpid, src, source.mem, !!opts.selfCopy && !opts.exact);
    mark('memory');
    abort();
    // the copy copies C's pages itself while the caller makes other members' copies; every
    // later step injects calls into it, so they wait for settle (which collects that call first)
    pages.start();
    calls.close(); // its /proc/PID/mem: opened again by settle, never left open by a copy killed before
    mark('pages-start');
    const stats: AdoptStats = { ...mem, fdsKept: 0, fdsInstalled: 0, signalsSet: 0, namespacesJoined: 0, credsChanged: false, callsInCopy: calls.count, callsInSource: srcCalls.count, phasesUs };
    const c = calls;
    let rest: { userStep?: UserStep; idSensitive: IdSensitive } | undefined;
    // C must still be held: the copy reads its pages, and calls injected into C read its settings
    // (their result slot lies below its leader's red zone, never part of C's state)
    const settle = () => {
      if (rest) return;
      try {
        last = performance.now();
        stats.pageCopy = pages.finish();
        mark('pages');
        abort();
        adoptRlimits(c, cpid, src);
        adoptMm(c, cpid, src, srcCalls);
        stats.signalsSet = adoptSignals(c, cpid, src, srcCalls);
        mark('mm+signals');
        const relay = opts.exact && { pid: cpid, call: (what: string, nr: number, args: (bigint | number)[]) => c.call(what, nr, args), scratch: c.arg(Buffer.alloc(104), 8192) };
        const fds = adoptFds(c, cpid, src, relay || undefined);
        stats.fdsKept = fds.kept;
        stats.fdsInstalled = fds.installed;
        mark('fds');
        stats.namespacesJoined = adoptNamespaces(c, cpid, src, opts.exact);
        adoptProcess(c, cpid, src);
        const userStep = adoptGroups(c, cpid, src, srcCalls); // the uids follow in build, once descriptors are planted
        const idSensitive = adoptPrctl(c, src, srcCalls); // after the gid change: it clears pdeathsig and resets dumpable
        adoptLeaderThread(c, opts.exact ? src : cpid, source); // after the pages, which hold C's TID field; the TID libc caches is the copy's own, as its threads see it
        c.finish(base, source.insn);
        mark('process');
        stats.credsChanged = userStep !== undefined;
        stats.callsInCopy = c.count;
        stats.callsInSource = srcCalls.count;
        rest = { userStep, idSensitive };
      } catch (e) {
        throw failed(e);
      } finally {
        c.close();
      }
    };
    return {
      pid: cpid, main, base, insn: source.insn, source, stats, settle,
      build: (built) => {
        settle();
        return buildAdopted(cpid, main, source, built, rest!.userStep && { step: rest!.userStep, idSensitive: rest!.idSensitive }, !!opts.exact);
      },
    };
  } catch (e) {
    calls?.close();
    throw failed(e);
  }

  function failed(e: unknown): unknown {
    killCopy(cpid);
    main.detached = true;
    if (e instanceof RemoteError) return e;
    return new RemoteError(`copying PID ${src} into a child ${cpid} of ${parent.pid} failed: ${e instanceof Error ? e.message : String(e)}; the copy was killed, PID ${src} is untouched`, 'failed', { pid: src });
  }
}

/** C's other threads made in the copy, as the one-process engine makes them after its fork. */
function buildAdopted(cpid: number, main: TracedTask, source: AdoptSource, built: TracedTask[], user: { step: UserStep; idSensitive: IdSensitive } | undefined, exact: boolean) {
  const f = source.states[0]!;
  let notCopied: NotCopied[] | undefined;
  const plan = source.fdPlan;
  const callIn = (task: TracedTask, b: Buffer) => (what: string, nr: number, args: (bigint | number)[]) => checkResult(what, task.tid, injectSyscall(task, source.insn, b, nr, args));
  // exact TIDs: the threads are made by clone3 set_tid, which needs CAP_SYS_ADMIN, so the
  // user is given after them, in each thread (a thread's credentials are its own)
  const userFirst = exact ? undefined : user;
  const beforeThreads = (plan || userFirst) && ((task: TracedTask, b: Buffer, cmem: ProcessMemory) => {
    if (plan) notCopied = installPrivateFds({ main: task, base: b, insn: source.insn, mem: cmem, scratch: stackSlot(f.regs) }, plan);
    if (userFirst) {
      const call = callIn(task, b);
      giveUser({ call, write: (at, data) => cmem.write(at, data), scratch: stackSlot(f.regs) }, userFirst.step, cpid, () => restoreIdSensitive(call, userFirst.idSensitive));
    }
  });
  const afterThreads = user && exact ? (tasks: TracedTask[], b: Buffer, cmem: ProcessMemory) => {
    // the leader first: giveUser checks the process's (the leader's) credentials after each thread's calls
    for (const task of tasks) giveUser({ call: callIn(task, b), write: (at, data) => cmem.write(at, data), scratch: stackSlot(f.regs) }, user.step, cpid, () => undefined);
    if (user.step.uidChanges) restoreIdSensitive(callIn(tasks[0]!, b), user.idSensitive); // once every thread's uid changed
  } : undefined;
  // buildClone collects the copy's first stop: from our last call's exit stop, into the
  // kernel's signal path without running a user instruction
  pt.interrupt(cpid);
  pt.cont(cpid);
  const c = buildClone(cpid, f, source.states.slice(1), {
    insn: source.insn,
    maps: source.maps,
    callStack: source.callStack,
    dontFork: source.dontFork ?? [],
    layout: source.layout!,
    exact, // threads by clone3 set_tid: each keeps its TID in the tree's namespace
    beforeThreads,
    afterThreads,
    restoreStacks: source.frames && ((mem) => source.frames!.restoreInto(mem)),
  }, built);
  for (const sig of main.held.splice(0)) tgkill(cpid, cpid, sig); // signals that came while it was being made: pending again
  return { ...c, ...(plan ? { privateFds: plan.objects.length, notCopied: notCopied ?? [] } : {}) };
}
