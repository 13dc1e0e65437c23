// Holding a whole process tree still: each process is seized (every thread)
// before its children are listed, so the list is final (a held process
// cannot fork, and a child that exits stays listed as a zombie until its
// held parent reaps it, which it cannot). Top down, breadth first, one pass:
// a descendant that forks before it is held is held with its new child; one
// that exits first is found a zombie (or gone: reaped at once, as with
// SIGCHLD ignored). When the last one is held, the tree is in one state,
// and every kernel object between them (pipe contents) is read after that.
import { RemoteError } from '../errors.js';
import { preflight } from '../preflight.js';
import { refuseTidCachingRuntime } from '../tid-caching.js';
import { readEarlyFdState } from '../private/snapshot-socketpairs.js';
import { childrenOf, isZombie, noNewPrivs, namespaceOf, readProcMember, type ProcMember } from './proc-member.js';
import { FrozenMember } from './frozen-member.js';
import { credsGap, readCreds } from './adopt-creds.js';

export interface TreeNode {
  info: ProcMember;
  /** held (absent for a zombie) */
  frozen?: FrozenMember;
  children: number[];
}

export interface FrozenTree {
  /** breadth first, root first */
  nodes: TreeNode[];
  /** performance.now() when the first thread was seized */
  heldSince: number;
}

export interface FreezeOptions {
  privateFds: boolean;
  exactTids: boolean;
  /** bound on the number of processes (default 512) */
  maxMembers?: number;
}

const refuse = (msg: string) => new RemoteError(msg, 'not-supported');

/** Refusals read from /proc before a member is touched (the message names it and what to do). */
function checkMember(pid: number, info: ProcMember, root: number, rootNs: string, parent: number | undefined, opts: FreezeOptions): void {
  try {
    preflight(pid); // traced by someone else, kernel thread, this forkall
  } catch (e) {
    if (e instanceof RemoteError && e.code === 'self' && pid !== root)
      throw new RemoteError(`the tree of ${root} holds PID ${pid}, this forkall command (or its engine): clone a tree that does not contain the forkall that clones it`, 'self');
    throw e;
  }
  if (info.state === 'T')
    throw refuse(`PID ${pid} (${info.comm}) in the tree of ${root} is stopped (job control): its copy would have to be stopped too and a held tree cannot tell; resume it (kill -CONT ${pid}) or clone without --tree`);
  if (namespaceOf(pid, 'pid') !== rootNs)
    throw refuse(`PID ${pid} (${info.comm}) in the tree of ${root} is in another PID namespace (${namespaceOf(pid, 'pid')}, the root's is ${rootNs}): its copy cannot be made there`);
  if (parent !== undefined) {
    const gap = credsGap(readCreds(pid), readCreds(parent));
    if (gap)
      throw refuse(
        `PID ${pid} (${info.comm}) in the tree of ${root} has other credentials than its parent ${parent} (${gap}; a setuid or setcap program): its copy is forked by its parent's copy, which can only give up privilege`,
      );
    if (noNewPrivs(parent) && !noNewPrivs(pid))
      throw refuse(`PID ${pid} (${info.comm}) in the tree of ${root} has no_new_privs off and its parent ${parent} on: its copy, forked by the parent's copy, cannot turn it off`);
  }
  if (!opts.exactTids) refuseTidCachingRuntime(pid);
}

/** Holds every process of the tree rooted at `root`; on any failure every held process is given back. */
export function freezeTree(root: number, opts: FreezeOptions): FrozenTree {
  const max = opts.maxMembers ?? 512;
  const nodes: TreeNode[] = [];
  let heldSince = 0;
  const rootNs = namespaceOf(root, 'pid');
  try {
    const queue: { pid: number; parent?: number }[] = [{ pid: root }];
    while (queue.length) {
      const { pid, parent } = queue.shift()!;
      if (nodes.length >= max) throw refuse(`the tree of ${root} has more than ${max} processes`);
      let info = readProcMember(pid);
      if (!info) {
        if (parent === undefined) throw new RemoteError(`no process with PID ${pid}`, 'no-such-process');
        continue; // reaped before its parent was held
      }
      if (isZombie(info)) {
        if (parent === undefined) throw new RemoteError(`PID ${pid} is a zombie (it exited; its parent has not reaped it)`, 'zombie');
        nodes.push({ info, children: [] });
        continue;
      }
      let frozen: FrozenMember;
      try {
        checkMember(pid, info, root, rootNs, parent, opts);
        const fdEarly = opts.privateFds ? readEarlyFdState(pid) : undefined;
        if (!heldSince) heldSince = performance.now();
        frozen = FrozenMember.freeze(pid, { fdEarly });
      } catch (e) {
        // a member (not the root) that exited between the listing and its checks or seize is a
        // zombie now (or gone): the tree is taken as it is at that instant
        const now = readProcMember(pid);
        if (parent !== undefined && (!now || isZombie(now))) {
          if (now) nodes.push({ info: now, children: [] });
          continue;
        }
        throw e;
      }
      info = readProcMember(pid) ?? info; // its group and session, now that it cannot change them
      const children = childrenOf(pid);
      nodes.push({ info, frozen, children });
      for (const c of children) queue.push({ pid: c, parent: pid });
    }
    // children listed by a parent but gone by the time they were looked at are not in the tree
    const present = new Set(nodes.map((n) => n.info.pid));
    for (const n of nodes) n.children = n.children.filter((c) => present.has(c));
    return { nodes, heldSince };
  } catch (e) {
    for (const n of nodes) n.frozen?.release();
    throw e;
  }
}

/** Gives every held process back (each at most once). */
export function releaseTree(t: FrozenTree): void {
  let first: unknown;
  for (const n of t.nodes) {
    try {
      n.frozen?.release();
    } catch (e) {
      first ??= e;
    }
  }
  if (first) throw first;
}
