// `forkall bench explore --suite DIR`: every program of SCTBench's buggy list,
// explored from a snapshot at its first pthread_create for a fixed budget;
// per program whether a failing schedule was found, how long the first took,
// and schedules per second.
import { explore } from './explore.js';
import type { RunResult } from './outcome.js';
import { buildProgram, readBuggyList, type SuiteProgram } from './suite-build.js';

export interface SuiteResult {
  program: string;
  /** why it was not run (not built) */
  error?: string;
  found: boolean;
  /** ms from the start of exploring (after the snapshot) to the end of the first failing run */
  msToBug: number | null;
  runs: number;
  schedulesPerSec: number;
  snapshotMs: number;
  /** the first failing run's outcome and seed */
  bug?: { outcome: string; seed: string | null };
  timeouts: number;
}

export interface SuiteOptions {
  dir: string;
  buildDir: string;
  /** budget per program */
  seconds: number;
  jobs: number;
  timeoutMs: number;
  seed: bigint;
  /** only programs whose id contains one of these */
  only?: string[];
  onProgram?(r: SuiteResult, done: number, total: number): void;
}

/** a bug is a failing run the program itself reports: an assert, a crash, a non-zero exit, or a deadlock; a timeout is counted apart */
const isBug = (r: RunResult) => !r.timedOut && (r.deadlock || r.signal !== null || r.exitCode !== 0);

export function suitePrograms(dir: string, only?: string[]): SuiteProgram[] {
  const all = readBuggyList(dir);
  return only?.length ? all.filter((p) => only.some((o) => p.id.includes(o))) : all;
}

export async function runSuite(o: SuiteOptions): Promise<SuiteResult[]> {
  const programs = suitePrograms(o.dir, o.only);
  const results: SuiteResult[] = [];
  for (const p of programs) {
    const built = buildProgram(o.dir, p, o.buildDir);
    let r: SuiteResult;
    if ('error' in built) r = { program: p.id, error: built.error, found: false, msToBug: null, runs: 0, schedulesPerSec: 0, snapshotMs: 0, timeouts: 0 };
    else {
      let msToBug: number | null = null;
      let bug: SuiteResult['bug'];
      let timeouts = 0;
      const here = process.cwd();
      try {
        process.chdir(built.cwd); // the program's input and output files are in its build directory
        const report = await explore({
          cmd: built.cmd,
          args: built.args,
          at: 'create',
          runs: Number.MAX_SAFE_INTEGER,
          seconds: o.seconds,
          jobs: o.jobs,
          timeoutMs: o.timeoutMs * (built.timeoutScale ?? 1),
          seed: o.seed,
          snapshotTimeoutMs: 60_000,
          onRun: (_t, run, ms) => {
            if (run.timedOut) timeouts++;
            if (msToBug === null && isBug(run)) {
              msToBug = ms;
              bug = { outcome: run.deadlock ? 'deadlock' : run.signal ? `signal ${run.signal}` : `exit ${run.exitCode}`, seed: run.seed === null ? null : run.seed.toString() };
            }
          },
          stopWhen: isBug,
        });
        r = { program: p.id, found: msToBug !== null, msToBug, runs: report.runs, schedulesPerSec: report.schedulesPerSec, snapshotMs: report.snapshotMs, bug, timeouts };
      } catch (e) {
        r = { program: p.id, error: (e as Error).message, found: false, msToBug: null, runs: 0, schedulesPerSec: 0, snapshotMs: 0, timeouts };
      } finally {
        process.chdir(here);
      }
    }
    results.push(r);
    o.onProgram?.(r, results.length, programs.length);
  }
  return results;
}

export function median(xs: number[]): number | null {
  if (!xs.length) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
