// `forkall bench remote`: how long the remote engine takes to clone a running
// process by PID (and how long it holds the original stopped), next to the
// in-process engine's forkall() for the same thread count, in one run. The
// target is forkall's C program at each thread count asked for, or a real
// runtime (python3, java, node) as it comes (src/bench/runtimes.ts).
import { cloneProcessSync } from '../remote/clone-process.js';
import { waitpid } from '../remote/libc.js';
import { benchLatency } from './latency.js';
import { Progress } from './progress.js';
import { RuntimeMissing, startRuntime, type RunningTarget, type Runtime } from './runtimes.js';
import { median, quantile } from './stats.js';

export interface RemoteBenchResult {
  /** the program cloned: c (native/bench/forkall-target, 4 MB) or a runtime */
  target: Runtime;
  /** what ran, in words */
  program: string;
  threads: number;
  runs: number;
  /** median µs from the request until the clone runs (seize, capture, fork, recreate, detach) */
  remoteUs: number;
  /** the same median under the name the clone report uses */
  totalUs: number;
  /** median µs the original was held stopped */
  heldUs: number;
  /** 99th percentile and longest of those holds (the tail a live service feels) */
  heldP99Us: number;
  heldMaxUs: number;
  /** the in-process engine's median forkall() for the same thread count (incl. the child's exit) */
  inProcessUs: number;
  /** median µs of each step of the remote clone (preflight, seize, maps, capture, fds, fork, release, build) */
  phasesUs: Record<string, number>;
}

export interface RemoteBenchOptions {
  /** programs to clone (default: c) */
  targets?: Runtime[];
  /** thread counts of the C target */
  threads: number[];
  runs: number;
  progress?: boolean;
  /** told each runtime that is not installed (it is left out) */
  onSkip?: (why: string) => void;
}

/** Kills and reaps a clone (a child of ours, since the target is). */
function endClone(pid: number): void {
  process.kill(pid, 'SIGKILL');
  waitpid(pid, new Int32Array(1), 0);
}

/** Clones `target` `runs` times after one uncounted warm-up, each clone killed at once; medians. */
async function measure(target: RunningTarget, runs: number, tick: () => void): Promise<RemoteBenchResult> {
  const total: number[] = [];
  const held: number[] = [];
  const threads: number[] = [];
  const phases: Record<string, number[]> = {};
  cloneProcessSync(target.pid).clones.forEach((c) => endClone(c.pid)); // warm-up
  for (let i = 0; i < runs; i++) {
    const r = cloneProcessSync(target.pid);
    total.push(r.totalUs);
    held.push(r.heldUs);
    threads.push(r.threads);
    for (const [k, v] of Object.entries(r.phasesUs)) (phases[k] ??= []).push(v);
    for (const c of r.clones) endClone(c.pid);
    tick();
  }
  // the in-process engine at the same thread count (a JVM's count can move by one or two between runs)
  const n = median(threads);
  const [inproc] = await benchLatency({ threads: [n], rssMb: [4], runs: Math.max(5, runs), exact: false, progress: false });
  return {
    target: target.runtime,
    program: target.describe,
    threads: n,
    runs,
    remoteUs: median(total),
    totalUs: median(total),
    heldUs: median(held),
    heldP99Us: quantile(held, 0.99),
    heldMaxUs: Math.max(...held),
    inProcessUs: inproc!.forkallUs,
    phasesUs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, Math.round(median(v))])),
  };
}

export async function benchRemote(o: RemoteBenchOptions): Promise<RemoteBenchResult[]> {
  const targets = o.targets ?? ['c'];
  const configs = targets.flatMap((runtime): { runtime: Runtime; threads: number }[] => (runtime === 'c' ? o.threads.map((threads) => ({ runtime, threads })) : [{ runtime, threads: 0 }]));
  const bar = new Progress(configs.length * o.runs, 'bench remote');
  const results: RemoteBenchResult[] = [];
  for (const { runtime, threads } of configs) {
    let target: RunningTarget;
    try {
      target = await startRuntime(runtime, threads);
    } catch (e) {
      if (!(e instanceof RuntimeMissing)) throw e;
      o.onSkip?.(e.message);
      continue;
    }
    try {
      results.push(await measure(target, o.runs, () => o.progress !== false && bar.tick(1, runtime === 'c' ? `${threads} threads` : runtime)));
    } finally {
      target.stop();
    }
  }
  bar.end();
  return results;
}
