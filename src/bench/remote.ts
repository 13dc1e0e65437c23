// `forkall bench remote`: how long the remote engine takes to clone a running
// process by PID (and how long it holds the original stopped), next to the
// in-process engine's forkall() for the same thread count, in one run.
import { spawn } from 'node:child_process';
import { toolBinary } from '../native/paths.js';
import { cloneProcessSync } from '../remote/clone-process.js';
import { waitpid } from '../remote/libc.js';
import { benchLatency } from './latency.js';
import { Progress } from './progress.js';
import { median } from './stats.js';

export interface RemoteBenchResult {
  threads: number;
  runs: number;
  /** median µs from the request until the clone runs (seize, capture, fork, recreate, detach) */
  remoteUs: number;
  /** median µs the original was held stopped */
  heldUs: number;
  /** the in-process engine's median forkall() for the same thread count (incl. the child's exit) */
  inProcessUs: number;
  /** median µs of each step of the remote clone (preflight, seize, maps, capture, fork, release, build) */
  phasesUs: Record<string, number>;
}

export interface RemoteBenchOptions {
  threads: number[];
  runs: number;
  progress?: boolean;
}

async function startTarget(threads: number) {
  const child = spawn(toolBinary('forkall-target'), [String(threads), '4', 'idle'], { stdio: ['pipe', 'pipe', 'inherit'] });
  await new Promise<void>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d) => {
      out += d;
      if (out.includes('READY')) resolve();
    });
    child.on('exit', (c) => reject(new Error(`forkall-target exited (${c}) before it was ready`)));
  });
  return child;
}

/** Kills and reaps a clone (a child of ours, since the target is). */
function endClone(pid: number): void {
  process.kill(pid, 'SIGKILL');
  waitpid(pid, new Int32Array(1), 0);
}

export async function benchRemote(o: RemoteBenchOptions): Promise<RemoteBenchResult[]> {
  const bar = new Progress(o.threads.length * o.runs, 'bench remote');
  const results: RemoteBenchResult[] = [];
  for (const threads of o.threads) {
    const target = await startTarget(threads);
    const total: number[] = [];
    const held: number[] = [];
    const phases: Record<string, number[]> = {};
    try {
      cloneProcessSync(target.pid!).clones.forEach((c) => endClone(c.pid)); // warm-up
      for (let i = 0; i < o.runs; i++) {
        const r = cloneProcessSync(target.pid!);
        total.push(r.totalUs);
        held.push(r.heldUs);
        for (const [k, v] of Object.entries(r.phasesUs)) (phases[k] ??= []).push(v);
        for (const c of r.clones) endClone(c.pid);
        if (o.progress !== false) bar.tick(1, `${threads} threads`);
      }
    } finally {
      target.kill('SIGKILL');
    }
    const [inproc] = await benchLatency({ threads: [threads], rssMb: [4], runs: Math.max(5, o.runs), exact: false, progress: false });
    results.push({
      threads,
      runs: o.runs,
      remoteUs: median(total), heldUs: median(held), inProcessUs: inproc!.forkallUs,
      phasesUs: Object.fromEntries(Object.entries(phases).map(([k, v]) => [k, median(v)])),
    });
  }
  bar.end();
  return results;
}
