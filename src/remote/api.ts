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
import { cloneInEngineProcess } from './engine-client.js';
import { blamePid } from '../errors.js';

export interface CloneProcessOptions {
  /** how many clones (default 1) */
  count?: number;
  /** leave each clone stopped (SIGSTOP) and detached */
  stopped?: boolean;
  /** the clone keeps the original PID and TIDs, in a PID namespace of its own (docs/remote.md) */
  exactTids?: boolean;
  /** private copies of epoll, eventfd, timerfd, signalfd, inotify and self-pipes (default true); false shares them as fork does */
  privateFds?: boolean;
}

/** Clones process `pid` with all its threads; resolves to the full report. */
export function cloneProcessDetailed(pid: number, opts: CloneProcessOptions = {}): Promise<RemoteCloneResult> {
  return cloneInEngineProcess({ pid, options: { count: opts.count ?? 1, stopped: opts.stopped, exactTids: opts.exactTids, privateFds: opts.privateFds } }).catch((e: unknown) => {
    throw blamePid(e, pid);
  });
}

/** Clones process `pid` with all its threads, `count` times; resolves to the clones. */
export async function cloneProcess(pid: number, opts: CloneProcessOptions = {}): Promise<RemoteClone[]> {
  return (await cloneProcessDetailed(pid, opts)).clones;
}
