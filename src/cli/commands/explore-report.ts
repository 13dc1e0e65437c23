// What `forkall explore` prints, whether it started the program itself or
// asked a served template (-p): the live progress line, the outcome table,
// and a replayed run's end, with the exit statuses they mean.
import { constants } from 'node:os';
import type { ExploreReport } from '../../explore/explore.js';
import { failing, type Outcome, type OutcomeTable, type RunResult } from '../../explore/outcome.js';
import type { ExploreProgress } from '../../server/serve-explore.js';
import { EXIT } from '../exit-codes.js';
import { makeTable } from '../table.js';

/** exit status of `explore`: a schedule failed */
export const EXPLORE_FOUND = 1;
/** exit status of `explore --replay` when the run was killed after --timeout-ms (as timeout(1)) */
export const REPLAY_TIMEOUT = 124;

/** Runs so far, distinct outcomes, failing runs, ms since the first run started. */
export type Progress = ExploreProgress['progress'];

export function progressOf(table: OutcomeTable, elapsedMs: number): Progress {
  const outcomes = table.list();
  return { runs: table.runs, outcomes: outcomes.length, failing: outcomes.filter(failing).reduce((n, o) => n + o.count, 0), elapsedMs };
}

/** Rewrites the live progress line on stderr. */
export function progressLine(p: Progress): void {
  const rate = p.runs / Math.max(p.elapsedMs / 1000, 1e-3);
  process.stderr.write(`\rforkall explore: ${p.runs} runs, ${p.outcomes} outcomes, ${p.failing} failing, ${rate.toFixed(0)}/s   `);
}

function outcomeTable(outcomes: Outcome[]): string {
  const t = makeTable(['outcome', 'count', 'seed', 'replayed', 'first output line']);
  for (const o of outcomes) t.push([o.outcome, o.count, o.seed ?? '-', o.replayed ? `${o.replayed.same}/${o.replayed.of}` : '', o.sample]);
  return t.toString();
}

/** Prints the table (or JSON) and returns the exit status: 1 when some schedule failed. */
export function reportExploration(report: ExploreReport, json: boolean): number {
  if (json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else
    process.stdout.write(
      (report.templatePid !== undefined ? `template ${report.templatePid}` : `frozen after ${report.snapshotMs} ms`) +
        ` with ${report.threads} threads; ${report.runs} schedules in ${(report.exploreMs / 1000).toFixed(1)} s ` +
        `(${report.schedulesPerSec.toFixed(0)}/s), seeds ${report.baseSeed}..\n${outcomeTable(report.outcomes)}\n`,
    );
  return report.outcomes.some(failing) ? EXPLORE_FOUND : EXIT.OK;
}

type ReplayEnd = Pick<RunResult, 'exitCode' | 'signal' | 'timedOut' | 'deadlock' | 'stdout' | 'stderr'>;

function replayStatus(r: ReplayEnd): number {
  if (r.timedOut || r.deadlock) return REPLAY_TIMEOUT;
  if (r.signal) return 128 + ((constants.signals as Record<string, number>)[r.signal] ?? 0);
  return r.exitCode ?? 1;
}

/** Says how a replayed run ended (its output went to ours already, or is in the JSON) and returns its status. */
export function reportReplay(r: ReplayEnd, seed: bigint, timeoutMs: number, json: boolean): number {
  if (json)
    process.stdout.write(JSON.stringify({ seed: seed.toString(), exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, deadlock: r.deadlock, stdout: r.stdout.toString(), stderr: r.stderr.toString() }, null, 2) + '\n');
  else if (r.timedOut) process.stderr.write(`forkall: seed ${seed}: killed after ${timeoutMs} ms (timeout)\n`);
  else if (r.deadlock) process.stderr.write(`forkall: seed ${seed}: deadlock (every thread blocked; ended by the scheduler)\n`);
  else if (r.signal) process.stderr.write(`forkall: seed ${seed}: killed by ${r.signal}\n`);
  return replayStatus(r);
}
