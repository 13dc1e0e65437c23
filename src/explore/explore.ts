// `forkall explore`: many clones of one frozen state, each under the schedule
// perturbation its seed selects; distinct outcomes counted (docs/explore.md).
import { failing, OutcomeTable, outcomeKey, type Outcome, type RunResult } from './outcome.js';
import { Session, type SessionOptions } from './session.js';

/** How to explore a frozen state, wherever it comes from. */
export interface ExploreRunOptions {
  /** stop after this many runs */
  runs: number;
  /** ... or after this long, whichever comes first */
  seconds?: number;
  /** clones alive at once */
  jobs: number;
  /** a run still alive after this long is killed and counted as "timeout" */
  timeoutMs: number;
  /** clone n runs seed + n */
  seed: bigint;
  /**
   * replay each failing outcome's seed this many times in the same template
   * (0: not at all); a seed that does not give its outcome every time is
   * replaced by the next of up to 3 seeds that gave it
   */
  confirm?: number;
  onRun?(table: OutcomeTable, r: RunResult, elapsedMs: number): void;
  /** stop starting runs once this returns true (runs already started finish) */
  stopWhen?(r: RunResult): boolean;
}

export interface ExploreOptions extends SessionOptions, ExploreRunOptions {}

export interface ExploreReport {
  runs: number;
  schedulesPerSec: number;
  /** how long starting and freezing the program took (0 for a served template: frozen before) */
  snapshotMs: number;
  /** set when a served template was explored (`forkall explore -p`) */
  templatePid?: number;
  exploreMs: number;
  threads: number;
  baseSeed: string;
  outcomes: Outcome[];
}

/** Starts the program, freezes it and explores it (see ExploreRunOptions). */
export async function explore(o: ExploreOptions): Promise<ExploreReport> {
  const s = await Session.start(o);
  try {
    return await exploreSession(s, o);
  } finally {
    await s.close();
  }
}

/** Explores the frozen state of session `s` (its template stays as it is). */
export async function exploreSession(s: Session, o: ExploreRunOptions): Promise<ExploreReport> {
  s.mailbox.setSeeds(o.seed, false);
  const table = new OutcomeTable();
  const t0 = performance.now();
  const deadline = o.seconds === undefined ? Infinity : t0 + o.seconds * 1000;
  let started = 0, stop = false;
  const worker = async (): Promise<void> => {
    while (!stop && started < o.runs && performance.now() < deadline) {
      started++;
      const r = await s.run(o.timeoutMs);
      table.add(r);
      o.onRun?.(table, r, performance.now() - t0);
      if (o.stopWhen?.(r)) stop = true;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker));
  const exploreMs = performance.now() - t0;
  if (o.confirm) await confirm(s, table, o.confirm, o.timeoutMs);
  return {
    runs: table.runs,
    schedulesPerSec: table.runs / (exploreMs / 1000),
    snapshotMs: Math.round(s.snapshotMs),
    ...(s.servedPid !== undefined ? { templatePid: s.servedPid } : {}),
    exploreMs: Math.round(exploreMs),
    threads: s.threads,
    baseSeed: o.seed.toString(),
    outcomes: table.list(),
  };
}

/** Replays the seeds of each failing outcome in the same template, keeping the first that reproduces every time. */
async function confirm(s: Session, table: OutcomeTable, times: number, timeoutMs: number): Promise<void> {
  for (const o of table.list().filter(failing)) {
    let best: { seed: bigint; same: number } | undefined;
    for (const seed of table.candidates.get(o.outcome) ?? []) {
      s.mailbox.setSeeds(seed, true);
      let same = 0;
      // one at a time: replays of one seed share its CPU and would delay each other
      for (let i = 0; i < times; i++) if (outcomeKey(await s.run(timeoutMs)) === o.outcome) same++;
      if (!best || same > best.same) best = { seed, same };
      if (same === times) break;
    }
    if (best) {
      o.seed = best.seed.toString();
      o.replayed = { same: best.same, of: times };
    }
  }
}

export interface ReplayRunOptions {
  seed: bigint;
  timeoutMs: number;
  /** where the clone's stdout/stderr go: 'pipe' collects them, numbers are our descriptors */
  stdout?: 'pipe' | number;
  stderr?: 'pipe' | number;
}

export interface ReplayOptions extends SessionOptions, ReplayRunOptions {}

/** One clone, of a new template of the program, under the schedule of `seed`. */
export async function replay(o: ReplayOptions): Promise<RunResult> {
  const s = await Session.start(o);
  try {
    return await replaySession(s, o);
  } finally {
    await s.close();
  }
}

/** One clone of session `s`'s frozen state under the schedule of `seed`. */
export function replaySession(s: Session, o: ReplayRunOptions): Promise<RunResult> {
  s.mailbox.setSeeds(o.seed, true);
  return s.run(o.timeoutMs, ['ignore', o.stdout ?? 'pipe', o.stderr ?? 'pipe']);
}
