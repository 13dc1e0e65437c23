// `forkall explore`: freeze a program once, run clones of it under many
// perturbed thread schedules, count the distinct outcomes (docs/explore.md).
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { constants } from 'node:os';
import { explore, replay } from '../../explore/explore.js';
import type { Outcome, RunResult } from '../../explore/outcome.js';
import type { OutcomeTable } from '../../explore/outcome.js';
import type { Trigger } from '../../server/template.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { makeTable } from '../table.js';
import { UsageError } from '../usage-error.js';
import { parseTrigger } from './run.js';

/** exit status of `explore`: a schedule failed */
export const EXPLORE_FOUND = 1;
/** exit status of `explore --replay` when the run was killed after --timeout-ms (as timeout(1)) */
export const REPLAY_TIMEOUT = 124;

export function parseSeed(flag: string, text: string): bigint {
  if (!/^\d{1,19}$/.test(text) || BigInt(text) >= 1n << 64n) throw new UsageError(`${flag} expects a whole number below 2^64, got '${text}'`);
  return BigInt(text);
}

export const failing = (o: Pick<Outcome, 'outcome' | 'exitCode'>): boolean => o.outcome === 'timeout' || o.outcome === 'deadlock' || o.exitCode !== 0;

function outcomeTable(outcomes: Outcome[]): string {
  const t = makeTable(['outcome', 'count', 'seed', 'replayed', 'first output line']);
  for (const o of outcomes) t.push([o.outcome, o.count, o.seed ?? '-', o.replayed ? `${o.replayed.same}/${o.replayed.of}` : '', o.sample]);
  return t.toString();
}

function progress(table: OutcomeTable, elapsedMs: number): void {
  const outcomes = table.list();
  const bad = outcomes.filter(failing).reduce((n, o) => n + o.count, 0);
  const rate = table.runs / Math.max(elapsedMs / 1000, 1e-3);
  process.stderr.write(`\rforkall explore: ${table.runs} runs, ${outcomes.length} outcomes, ${bad} failing, ${rate.toFixed(0)}/s   `);
}

function replayStatus(r: RunResult): number {
  if (r.timedOut || r.deadlock) return REPLAY_TIMEOUT;
  if (r.signal) return 128 + ((constants.signals as Record<string, number>)[r.signal] ?? 0);
  return r.exitCode ?? 1;
}

interface Flags {
  at?: string;
  runs: string;
  seconds?: string;
  jobs: string;
  timeoutMs: string;
  seed?: string;
  confirm: string;
  replay?: string;
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command('explore')
    .description('freeze a program once, run clones of it under many thread schedules, and report the distinct outcomes')
    .argument('<command...>', 'the program and its arguments (after --)')
    .option('--at <trigger>', "when to freeze: create (at the program's first pthread_create), threads=N, delay=DURATION or request (default: the program's own forkall_snapshot() call)")
    .option('--runs <n>', 'how many schedules to run', '1000')
    .option('--seconds <s>', 'stop after this many seconds (whichever of --runs and --seconds comes first)')
    .option('--jobs <j>', 'clones alive at once', '4')
    .option('--timeout-ms <ms>', 'a run still alive after this long is killed and counted as "timeout" (a hang or a deadlock)', '2000')
    .option('--seed <n>', 'the first seed: run n uses seed + n (default: random, printed)')
    .option('--confirm <n>', 'replay the seed of each failing outcome this many times in the same template (0: do not)', '5')
    .option('--replay <seed>', 'run one clone under the schedule of this seed, show its output and exit with its status')
    .option('--json', 'print {runs, schedulesPerSec, snapshotMs, outcomes: [...]} as JSON')
    .addHelpText(
      'after',
      `
The program runs with libforkall-agent.so and libforkall-sched.so preloaded. Once
it is frozen (at its forkall_snapshot() call, or --at; --at create: at its first
pthread_create), every clone is a copy of that state in which one thread runs at
a time: at each pthread mutex/condition/rwlock/spinlock/create/join, semaphore,
sched_yield or sleep call (and each memory access, when the program was compiled
with -fsanitize=thread and linked against libforkall-sched.so instead of
libtsan) the clone's seed picks the thread that runs next (PCT priorities with
change points, or a random walk). A clone whose threads are all blocked is ended
at once as "deadlock". Each run's outcome is its exit status or killing signal
plus a digest of its stdout and stderr, "deadlock", or "timeout". The table lists
each distinct outcome, how many runs ended that way and a seed that did. Each
failing outcome's seed is then replayed --confirm times in the same template
("replayed" k/n); replay it in a new template with --replay SEED (same program,
arguments and --at): the same seed gives the same schedule.

Examples:
  forkall explore --runs 2000 -- ./server-test
  forkall explore --at threads=4 --seconds 30 --json -- ./app --flag
  forkall explore --at create --seconds 20 -- ./racy-test
  forkall explore --replay 8817264 -- ./server-test

Exit codes: 0 every run exited 0, 1 some run failed (non-zero exit, signal,
deadlock or timeout), 2 bad flags, 3 native artifact missing, 8 the program could not be
frozen or cloned. With --replay: the run's exit status, 128+N when killed by
signal N, 124 when it timed out or deadlocked.`,
    )
    .action(async (command: string[], o: Flags) => {
      const at: Trigger | 'create' | undefined = o.at === undefined ? undefined : o.at === 'create' ? 'create' : parseTrigger(o.at);
      const runs = parsePositiveInt('--runs', o.runs);
      const seconds = o.seconds === undefined ? undefined : parsePositiveInt('--seconds', o.seconds);
      const jobs = parsePositiveInt('--jobs', o.jobs, 64);
      const timeoutMs = parsePositiveInt('--timeout-ms', o.timeoutMs);
      const confirm = o.confirm === '0' ? 0 : parsePositiveInt('--confirm', o.confirm, 100);
      const [cmd, ...args] = command;
      if (o.replay !== undefined) {
        if (o.seed !== undefined) throw new UsageError('--seed does not go with --replay: the replayed seed is the one given');
        const seed = parseSeed('--replay', o.replay);
        try {
          const r = await replay({ cmd: cmd!, args, at, seed, timeoutMs, stdout: o.json ? 'pipe' : 1, stderr: o.json ? 'pipe' : 2 });
          const status = replayStatus(r);
          if (o.json)
            process.stdout.write(JSON.stringify({ seed: seed.toString(), exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, deadlock: r.deadlock, stdout: r.stdout.toString(), stderr: r.stderr.toString() }, null, 2) + '\n');
          else if (r.timedOut) process.stderr.write(`forkall: seed ${seed}: killed after ${timeoutMs} ms (timeout)\n`);
          else if (r.deadlock) process.stderr.write(`forkall: seed ${seed}: deadlock (every thread blocked; ended by the scheduler)\n`);
          else if (r.signal) process.stderr.write(`forkall: seed ${seed}: killed by ${r.signal}\n`);
          process.exitCode = status;
        } catch (e) {
          process.stderr.write(`forkall: ${(e as Error).message}\n`);
          process.exitCode = EXIT.CLONE_FAILED;
        }
        return;
      }
      const seed = o.seed === undefined ? randomBytes(4).readUInt32LE() * 1000 : parseSeed('--seed', o.seed);
      const live = Boolean(process.stderr.isTTY) && !o.json;
      let last = 0;
      try {
        const report = await explore({
          cmd: cmd!,
          args,
          at,
          runs,
          seconds,
          jobs,
          timeoutMs,
          seed: BigInt(seed),
          confirm,
          onRun: live ? (table, _r, ms) => (ms - last > 200 ? ((last = ms), progress(table, ms)) : undefined) : undefined,
        });
        if (live) process.stderr.write('\n');
        if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        else
          process.stdout.write(
            `frozen after ${report.snapshotMs} ms with ${report.threads} threads; ${report.runs} schedules in ${(report.exploreMs / 1000).toFixed(1)} s ` +
              `(${report.schedulesPerSec.toFixed(0)}/s), seeds ${report.baseSeed}..\n${outcomeTable(report.outcomes)}\n`,
          );
        process.exitCode = report.outcomes.some(failing) ? EXPLORE_FOUND : EXIT.OK;
      } catch (e) {
        if (live) process.stderr.write('\n');
        process.stderr.write(`forkall: ${(e as Error).message}\n`);
        process.exitCode = EXIT.CLONE_FAILED;
      }
    });
}
