// `forkall bench cli`: the wall time of the forkall command as a person runs
// it, next to node's own start-up: `node -e 0`, `forkall --version`, and
// `forkall clone -p` of a 16-thread C target and of a python3 target with
// threads, one after the other in each run (so they share the machine's
// noise), every clone killed after its run.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/paths.js';
import { waitpid } from '../remote/libc.js';
import { Progress } from './progress.js';
import { RuntimeMissing, startRuntime, type RunningTarget, type Runtime } from './runtimes.js';
import { median } from './stats.js';

export interface CliBenchRow {
  /** what was run, as typed */
  name: string;
  runs: number;
  medianMs: number;
  minMs: number;
  maxMs: number;
  /** medianMs over the median of `node -e 0` in the same run */
  vsNode: number;
}

export interface CliBenchResult {
  results: CliBenchRow[];
  /** targets left out, each with the reason (a runtime not installed) */
  skipped: string[];
}

export interface CliBenchOptions {
  runs: number;
  progress?: boolean;
}

interface Case {
  name: string;
  args: string[];
  target?: RunningTarget;
}

const cli = () => join(packageRoot, 'bin', 'forkall.js');
const threadCount = (pid: number) => readdirSync(`/proc/${pid}/task`).length;

/** Our children right now (a clone is the target's sibling: ours). */
function children(): number[] {
  const out: number[] = [];
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    try {
      out.push(...readFileSync(`/proc/${process.pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number));
    } catch {
      // thread gone
    }
  }
  return out;
}

/** Runs one command to its end; resolves to its wall time in ms (spawn to exit). */
function timeOne(c: Case): Promise<number> {
  return new Promise((resolve, reject) => {
    let err = '';
    const t0 = performance.now();
    const p = spawn(process.execPath, c.args, { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr!.on('data', (d) => (err += d));
    p.on('error', reject);
    p.on('exit', (code, sig) => {
      const ms = performance.now() - t0;
      if (code === 0) resolve(ms);
      else reject(new Error(`'${c.name}' ended with ${sig ?? `exit ${code}`}: ${err.trim()}`));
    });
  });
}

/** Kills and reaps every child of ours that is not one of the targets: the clones a run made. */
function endClones(targets: number[]): number {
  const clones = children().filter((p) => !targets.includes(p));
  for (const pid of clones) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
    waitpid(pid, new Int32Array(1), 0);
  }
  return clones.length;
}

export async function benchCli(o: CliBenchOptions): Promise<CliBenchResult> {
  const skipped: string[] = [];
  const targets: RunningTarget[] = [];
  try {
    for (const runtime of ['c', 'python3'] as Runtime[]) {
      try {
        targets.push(await startRuntime(runtime, 16));
      } catch (e) {
        if (!(e instanceof RuntimeMissing)) throw e;
        skipped.push(e.message);
      }
    }
    const cases: Case[] = [
      { name: 'node -e 0', args: ['-e', '0'] },
      { name: 'forkall --version', args: [cli(), '--version'] },
      ...targets.map((t) => ({ name: `forkall clone -p <${t.runtime === 'c' ? 'C, 16 threads' : `${t.runtime}, ${threadCount(t.pid)} threads`}>`, args: [cli(), 'clone', '-p', String(t.pid)], target: t })),
    ];
    const pids = targets.map((t) => t.pid);
    const times = cases.map(() => [] as number[]);
    const bar = new Progress((o.runs + 1) * cases.length, 'bench cli');
    for (let run = 0; run <= o.runs; run++) { // run 0 warms the file cache and is not counted
      for (const [i, c] of cases.entries()) {
        const ms = await timeOne(c);
        if (c.target && endClones(pids) !== 1) throw new Error(`'${c.name}' did not leave exactly one clone`);
        if (run > 0) times[i]!.push(ms);
        if (o.progress !== false) bar.tick(1, c.name);
      }
    }
    bar.end();
    const nodeMs = median(times[0]!);
    const results = cases.map((c, i) => {
      const t = times[i]!;
      const m = median(t);
      return { name: c.name, runs: t.length, medianMs: round(m), minMs: round(Math.min(...t)), maxMs: round(Math.max(...t)), vsNode: Math.round((m / nodeMs) * 100) / 100 };
    });
    return { results, skipped };
  } finally {
    endClones(targets.map((t) => t.pid)); // a run that failed half-way may have left one
    for (const t of targets) t.stop();
  }
}

const round = (ms: number) => Math.round(ms * 10) / 10;
