// The Node API of the remote engine:
//   const [c] = await cloneProcess(4242);   // { pid, threads, ... }
//
// Each call runs the engine in a short-lived process of its own
// (engine-process.ts), not on a worker thread: when the target is a child of
// the calling process, libuv's SIGCHLD handler would take the target's ptrace
// stops for exits (a tracer in the same thread group as the real parent sees
// them in every waitpid) and the engine would wait forever. A process of its
// own also finishes or abandons cleanly if the caller dies.
// `cloneProcessSync` (clone-process.ts) runs it on the calling thread instead:
// fast, blocks the event loop, for benchmarks and programs that can afford it.
import type { RemoteClone, RemoteCloneResult } from './clone-process.js';
import { cloneInEngineProcess, cloneTreeInEngineProcess } from './engine-client.js';
import type { TreeCloneResult, TreeMemberClone } from './tree/clone-tree.js';
import { blamePid } from '../errors.js';
import { RemoteError } from './errors.js';

export interface CloneProcessOptions {
  /** how many clones (default 1) */
  count?: number;
  /** leave each clone stopped (SIGSTOP) and detached */
  stopped?: boolean;
  /** the clone keeps the original PID and TIDs, in a PID namespace of its own (docs/remote.md); with `tree`, every process and thread of the tree keeps its numbers in one namespace (docs/tree.md) */
  exactTids?: boolean;
  /** private copies of epoll, eventfd, timerfd, signalfd, inotify and self-pipes (default true); false shares them as fork does */
  privateFds?: boolean;
  /** clone the process and every descendant, each with every thread, as a tree of the same shape (docs/tree.md); `count` must be 1 */
  tree?: boolean;
}

/** Clones process `pid` with all its threads; resolves to the full report. */
export function cloneProcessDetailed(pid: number, opts: CloneProcessOptions = {}): Promise<RemoteCloneResult> {
  if (opts.tree) return Promise.reject(new RemoteError(`PID ${pid}: the full report of a tree clone comes from cloneTree(pid), not cloneProcessDetailed`, 'unsupported', { pid }));
  return cloneInEngineProcess({ pid, options: { count: opts.count ?? 1, stopped: opts.stopped, exactTids: opts.exactTids, privateFds: opts.privateFds } }).catch((e: unknown) => {
    throw blamePid(e, pid);
  });
}

/** Clones process `pid` and all its descendants (docs/tree.md); resolves to the full report, one entry per process. */
export function cloneTree(pid: number, opts: Omit<CloneProcessOptions, 'tree' | 'count'> = {}): Promise<TreeCloneResult> {
  return cloneTreeInEngineProcess({ pid, options: { count: 1, stopped: opts.stopped, exactTids: opts.exactTids, privateFds: opts.privateFds } }).catch((e: unknown) => {
    throw blamePid(e, pid);
  });
}

/** Clones process `pid` with all its threads, `count` times; resolves to the clones. With `tree: true`, clones it and all its descendants and resolves to one entry per process. */
export async function cloneProcess(pid: number, opts: CloneProcessOptions & { tree: true }): Promise<TreeMemberClone[]>;
export async function cloneProcess(pid: number, opts?: CloneProcessOptions): Promise<RemoteClone[]>;
export async function cloneProcess(pid: number, opts: CloneProcessOptions = {}): Promise<RemoteClone[] | TreeMemberClone[]> {
  if (opts.tree) {
    if ((opts.count ?? 1) !== 1) throw new RemoteError(`PID ${pid}: tree: true makes one clone of the tree; count must be 1 (got ${opts.count})`, 'unsupported', { pid });
    return (await cloneTree(pid, opts)).members;
  }
  return (await cloneProcessDetailed(pid, opts)).clones;
}
