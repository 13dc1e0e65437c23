// Cloning a process and all its descendants, each with every thread
// (`forkall clone --tree`). The clone of each process is a child of the clone
// of its parent (the root's clone is a sibling of the root), in the same
// process groups and sessions, pipes and zombies as in the original.
//
// Order, chosen so that the tree is held for one consistent instant and as
// briefly as possible: hold every process top down (freeze-tree.ts) → the
// root forks its copy → each copy forks the copies of its children
// (cloneAsChildOf: a child of the parent's copy turned into an image of the
// child), with setsid where a session begins → every original is given
// back → groups are made and joined, zombie copies end with their status,
// pipes and socketpairs between members are made anew → only then every
// copy gets its threads. Any failure before the originals
// are given back kills every copy and gives back every original untouched.
//
// With exact TIDs (exact-root.ts, exact-fork.ts) the root's copy is made in a
// new PID namespace with the root's PID, each other copy is forked there with
// its original's PID, descriptors are handed in over an fd relay (a PID in
// the namespace names another process), and the namespace's init starts only
// once the whole clone tree is made.
import { RemoteError } from '../errors.js';
import { SyscallError } from '../libc.js';
import { TaskGone, type TracedTask } from '../task.js';
import { blamePid } from '../../errors.js';
import { readProcMember } from './proc-member.js';
import { freezeTree, releaseTree, type FrozenTree, type TreeNode } from './freeze-tree.js';
import { MemberThreadExiting } from './frozen-member.js';
import { planSessions, type SessionPlan } from './sessions.js';
import { forkRootCopy } from './root-copy.js';
import { finishZombie, forkZombieCopy, type ZombieCopy } from './zombie-copy.js';
import { callIn, killCopies, NR_TREE } from './copy-calls.js';
import { cloneAsChildOf as defaultAdopter } from './adopter.js';
import type { BuiltCopy, CloneAsChildOf, PendingCopy, StoppedCopy } from './types.js';
import type { NotCopied } from '../private/plan.js';
import { installTreePipes, planTreePipes } from './tree-pipes.js';
import { installTreeSocketpairs, planTreeSocketpairs } from './tree-socketpairs.js';
import { channelsInsideTree } from './channel-scan.js';
import { FdPlanter } from './fd-planter.js';
import { forkExactRootCopy, killNamespace, type ExactRoot } from './exact-root.js';

export interface TreeCloneOptions {
  /** leave every clone stopped (SIGSTOP) and detached */
  stopped?: boolean;
  /** every process and thread keeps its PID/TID, in one new PID namespace (root only) */
  exactTids?: boolean;
  /** private copies of each process's own event objects (default true) */
  privateFds?: boolean;
  shouldAbort?: () => boolean;
  /** the copier of non-root members (tests and the seam, types.ts) */
  adopt?: CloneAsChildOf;
}

export interface TreeMemberClone {
  /** the original process */
  pid: number;
  /** its clone */
  clonePid: number;
  /** the original's parent, and the clone's (the root's clone shares the root's parent) */
  parent: number;
  cloneParent: number;
  /** the clone's process group and session */
  pgid: number;
  sid: number;
  /** the original's */
  originalPgid: number;
  originalSid: number;
  threads: number;
  /** a zombie: its clone is a zombie with this wait status */
  zombieStatus?: number;
  ownersFixed?: number;
  tids?: Record<number, number>;
  privateFds?: number;
  notCopied?: NotCopied[];
  /** exact TIDs: its PID in the clone tree's namespace (the original's) */
  namespacePid?: number;
  /** a member other than the root: its resident pages, those copied into its clone (the others are shared with its parent's clone or re-read from files), and µs per step of making its image */
  image?: { sourcePages: number; pagesCopied: number; phasesUs: Record<string, number> };
}

export interface TreeCloneResult {
  pid: number;
  /** processes in the tree (zombies included) and live threads */
  processes: number;
  threads: number;
  /** breadth first, the root first */
  members: TreeMemberClone[];
  /** pipes between processes of the tree, made anew for the clone tree with the bytes they buffered */
  pipes: { ends: { pid: number; fd: number; write: boolean }[]; bytes: number }[];
  /** socketpairs between processes of the tree, made anew with the stream bytes queued at each side */
  socketpairs: { ends: { pid: number; fd: number; side: 0 | 1 }[]; bytes: [number, number] }[];
  /** microseconds the original tree was held (first seize to last release) */
  heldUs: number;
  totalUs: number;
  /** exact TIDs: the PID (seen from outside) of the namespace's init, forkall-ns-init, the root's clone's parent and a sibling of the root */
  namespaceInit?: number;
  phasesUs: Record<string, number>;
  warnings: string[];
}

const sleepMs = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

class Abandoned extends RemoteError {
  constructor() {
    super('abandoned: the controller went away before the tree was cloned; every process was left as it was', 'failed');
  }
}

/** Clones the tree rooted at `pid` on the calling thread (blocks it). */
export function cloneTreeSync(pid: number, opts: TreeCloneOptions = {}): TreeCloneResult {
  const giveUpAt = Date.now() + 3000;
  for (let attempt = 1; ; attempt++) {
    try {
      return cloneTreeOnce(pid, opts);
    } catch (e) {
      if (!(e instanceof MemberThreadExiting)) throw blamePid(e, pid);
      if (Date.now() > giveUpAt || opts.shouldAbort?.())
        throw new RemoteError(`cloning the tree of PID ${pid} failed: ${e.message} for 3 s (${attempt} tries); every process was restored each time`, 'failed', { pid: e.pid, tid: e.tid });
      sleepMs(Math.min(2 * attempt, 50));
    }
  }
}

interface Made {
  node: TreeNode;
  copy: PendingCopy | ZombieCopy;
  parentCopy: number;
}

function cloneTreeOnce(pid: number, opts: TreeCloneOptions): TreeCloneResult {
  const adopt = opts.adopt ?? defaultAdopter;
  const abort = opts.shouldAbort ?? (() => false);
  const t0 = performance.now();
  const phasesUs: Record<string, number> = {};
  let last = t0;
  const mark = (phase: string) => {
    const t = performance.now();
    phasesUs[phase] = Math.round((t - last) * 1000);
    last = t;
  };
  const inside = opts.privateFds === false ? new Set<string>() : channelsInsideTree(pid);
  mark('channels-scan');
  const exact = !!opts.exactTids;
  const tree: FrozenTree = freezeTree(pid, { privateFds: opts.privateFds !== false, exactTids: exact });
  mark('freeze');
  const byPid = new Map(tree.nodes.map((n) => [n.info.pid, n]));
  const made = new Map<number, Made>();
  const traced: TracedTask[] = []; // every traced task of every copy, to kill on failure
  let nsRoot: ExactRoot | undefined; // exact TIDs: the namespace's init to be, killed last on failure
  let released = false;
  let tReleased = 0;
  try {
    const live = tree.nodes.filter((n) => n.frozen).map((n) => n.info.pid);
    const pipes = planTreePipes(live, inside);
    const socketpairs = planTreeSocketpairs(live, inside);
    // a pipe or socketpair a member holds both ends of and others hold too is the tree's, not the member's own
    for (const n of tree.nodes) {
      const plan = n.frozen?.fdPlan;
      const mine = new Set([...pipes, ...socketpairs].flatMap((p) => p.ends.filter((e) => e.pid === n.info.pid).map((e) => e.fd)));
      if (plan && mine.size) plan.objects = plan.objects.filter((o) => (o.kind !== 'pipe' && o.kind !== 'socketpair') || !mine.has(o.fds[0]!.fd));
    }
    mark('channels');
    const plan = planSessions(tree.nodes.map((n) => ({ pid: n.info.pid, ppid: n.info.ppid, pgid: n.info.pgid, sid: n.info.sid, zombie: !n.frozen, children: n.children })));
    if (abort()) throw new Abandoned();
    const rootNode = tree.nodes[0]!;
    if (exact) nsRoot = forkExactRootCopy(rootNode.frozen!);
    const rootCopy = nsRoot?.copy ?? forkRootCopy(rootNode.frozen!);
    traced.push(rootCopy.main);
    made.set(pid, { node: rootNode, copy: rootCopy, parentCopy: nsRoot?.init.tid ?? rootNode.info.ppid });
    failPoint('root');
    const ns = nsRoot?.namespaces;
    makeDescendants(rootNode, rootCopy, plan, byPid, made, traced, (parent, source) => adopt(parent, source, { shouldAbort: abort, ...(ns ? { exact: ns } : {}) }), exact);
    for (const m of made.values()) (m.copy as StoppedCopy).settle?.(); // the copies reading their originals' pages are done
    mark('fork');
    failPoint('fork');
    if (abort()) throw new Abandoned();
    // every copy exists and holds its image: the originals are not needed any more
    releaseTree(tree);
    released = true;
    tReleased = performance.now();
    mark('release');
    failPoint('release');
    joinGroups(plan, made, exact);
    for (const m of made.values()) if ('status' in m.copy) finishZombie(m.copy);
    mark('groups');
    const copyOf = (p: number) => {
      const c = made.get(p)?.copy;
      return c && !('status' in c) ? c : undefined;
    };
    const planter = new FdPlanter(exact);
    try {
      installTreePipes(pipes, copyOf, planter);
      installTreeSocketpairs(socketpairs, copyOf, planter);
    } finally {
      planter.close();
    }
    nsRoot?.mountProc(); // every copy is made: the namespace's own /proc on top of the originals'
    mark('channels-install');
    failPoint('channels');
    const built = new Map<number, BuiltCopy>();
    for (const m of made.values()) {
      if ('status' in m.copy) continue;
      const tasks: TracedTask[] = []; // this copy's alone: buildClone reports them as the copy's threads
      try {
        built.set(m.node.info.pid, m.copy.build(tasks));
      } finally {
        traced.push(...tasks);
      }
    }
    failPoint('build');
    nsRoot?.start(); // the namespace's init runs from now on: it reaps the root's clone
    if (opts.stopped) for (const b of built.values()) process.kill(b.pid, 'SIGSTOP');
    // leaves first: a parent that runs finds its children's copies running
    for (const b of [...built.values()].reverse()) {
      const lost = b.tasks.filter((t) => !t.release());
      if (lost.length) throw new RemoteError(`the clone ${b.pid} lost thread ${lost[0]!.tid} while being let go`, 'failed');
    }
    mark('build');
    const members = tree.nodes.filter((n) => made.has(n.info.pid)).map((n) => ({ ...describe(n, made.get(n.info.pid)!, built.get(n.info.pid)), ...(exact ? { namespacePid: n.info.pid } : {}) }));
    return {
      pid,
      processes: members.length,
      threads: members.reduce((s, m) => s + m.threads, 0),
      members,
      pipes: pipes.map((p) => ({ ends: p.ends.map((e) => ({ pid: e.pid, fd: e.fd, write: e.write })), bytes: p.bytes.length })),
      socketpairs: socketpairs.map((p) => ({ ends: p.ends.map((e) => ({ pid: e.pid, fd: e.fd, side: e.side })), bytes: [p.queued[0].length, p.queued[1].length] as [number, number] })),
      ...(nsRoot ? { namespaceInit: nsRoot.init.tid } : {}),
      heldUs: Math.round((tReleased - tree.heldSince) * 1000),
      totalUs: Math.round((performance.now() - t0) * 1000),
      phasesUs,
      warnings: [
        ...new Set(tree.nodes.flatMap((n) => n.frozen?.layout?.warnings.map((w) => `PID ${n.info.pid}: ${w}`) ?? [])),
        ...socketpairs.filter((p) => p.droppedDatagrams).map((p) => `datagrams queued on the socketpair between ${p.ends.map((e) => `PID ${e.pid} fd ${e.fd}`).join(', ')} were not copied`),
      ],
    };
  } catch (e) {
    killCopies([...made.values()].map((m) => m.copy.pid), traced);
    if (nsRoot) killNamespace(nsRoot.init); // after its namespace's processes are collected
    if (!released) {
      try {
        releaseTree(tree);
      } catch (restoreErr) {
        throw new RemoteError(`cloning the tree of PID ${pid} failed (${String(e)}) and giving a process back failed too: ${String(restoreErr)}`, 'failed');
      }
    }
    throw treeFailure(pid, released, e);
  }
}

/**
 * A failure forced at a named step (FORKALL_TEST_TREE_FAIL=<step>), for the
 * tests that check what a failure at that step leaves behind: root (the
 * root's copy made), fork (every copy made, originals still held), release,
 * channels, build (every copy built, none let go).
 */
function failPoint(step: string): void {
  if (process.env.FORKALL_TEST_TREE_FAIL === step) throw new RemoteError(`forced failure at step '${step}' (FORKALL_TEST_TREE_FAIL)`, 'failed');
}

function treeFailure(pid: number, released: boolean, e: unknown): unknown {
  if (e instanceof MemberThreadExiting || e instanceof Abandoned) return e;
  if (e instanceof RemoteError) return e;
  const detail = e instanceof Error ? e.message : String(e);
  if (e instanceof TaskGone || (e instanceof SyscallError && e.errno === 3))
    return new RemoteError(`a process of the tree of ${pid} or of its clone went away during the clone (${detail}); no clone was left; ${released ? 'the originals run on' : 'every original was restored'}`, 'failed');
  return new RemoteError(`cloning the tree of PID ${pid} failed: ${detail}; every copy was killed; ${released ? 'the originals run on' : 'every original was restored'}`, 'failed');
}

/** Forks the copies of `node`'s children from its copy, with its setsid between those born before and after it, and so on down. */
function makeDescendants(node: TreeNode, copy: StoppedCopy, plan: SessionPlan, byPid: Map<number, TreeNode>, made: Map<number, Made>, traced: TracedTask[], adopt: CloneAsChildOf, exact: boolean): void {
  const pid = node.info.pid;
  // a copy fills its memory while others are made (adopt.ts): complete before it forks or joins a session
  if (plan.before.get(pid)?.length || plan.after.get(pid)?.length || plan.sessionLeaders.has(pid)) copy.settle?.();
  const child = (c: number) => {
    const n = byPid.get(c)!;
    if (!n.frozen) {
      const z = forkZombieCopy(copy, c, n.info.exitStatus, exact);
      traced.push(z.main);
      made.set(c, { node: n, copy: z, parentCopy: copy.pid });
      if (plan.sessionLeaders.has(c)) callIn(z, `setsid (copy of ${c})`, NR_TREE.setsid, []);
      return;
    }
    const p = adopt(copy, n.frozen);
    traced.push(p.main);
    made.set(c, { node: n, copy: p, parentCopy: copy.pid });
    makeDescendants(n, p, plan, byPid, made, traced, adopt, exact);
  };
  for (const c of plan.before.get(pid) ?? []) child(c);
  if (plan.sessionLeaders.has(pid) && node.frozen) callIn(copy, `setsid (copy of ${pid})`, NR_TREE.setsid, []);
  for (const c of plan.after.get(pid) ?? []) child(c);
}

/**
 * Group leaders' copies make their groups, then the other members join (their
 * original group id mapped to the copy's). With exact TIDs a copy names the
 * group by its number in the namespace: the original's.
 */
function joinGroups(plan: SessionPlan, made: Map<number, Made>, exact: boolean): void {
  const copyOf = (p: number) => made.get(p)?.copy.pid;
  for (const leader of plan.groupLeaders) {
    const m = made.get(leader);
    if (m) callIn(m.copy, `setpgid(0, 0) (copy of group leader ${leader})`, NR_TREE.setpgid, [0, 0]);
  }
  for (const [orig, m] of made) {
    const group = plan.groupOf.get(orig)!;
    const want = copyOf(group) ?? group; // a group led from outside: the root's, which every copy inherits
    const now = readProcMember(m.copy.pid)?.pgid;
    const arg = exact && made.has(group) ? group : want;
    if (now !== want) callIn(m.copy, `setpgid(0, ${arg}) (copy of ${orig}, group ${group})`, NR_TREE.setpgid, [0, arg]);
  }
}

function describe(n: TreeNode, m: Made, b: BuiltCopy | undefined): TreeMemberClone {
  const now = readProcMember(m.copy.pid);
  return {
    pid: n.info.pid,
    clonePid: m.copy.pid,
    parent: n.info.ppid,
    cloneParent: m.parentCopy,
    pgid: now?.pgid ?? 0,
    sid: now?.sid ?? 0,
    originalPgid: n.info.pgid,
    originalSid: n.info.sid,
    threads: b ? b.tasks.length : 0,
    ...(n.frozen ? {} : { zombieStatus: n.info.exitStatus }),
    ...('stats' in m.copy && m.copy.stats ? { image: { sourcePages: m.copy.stats.sourcePages, pagesCopied: m.copy.stats.pagesCopied, phasesUs: m.copy.stats.phasesUs } } : {}),
    ...(b ? { ownersFixed: b.ownersFixed, tids: Object.fromEntries(b.tids), ...(b.privateFds !== undefined ? { privateFds: b.privateFds, notCopied: b.notCopied } : {}) } : {}),
  };
}
