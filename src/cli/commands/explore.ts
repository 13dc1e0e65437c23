// `forkall explore`: freeze a program once, run clones of it under many
// perturbed thread schedules, count the distinct outcomes (docs/explore.md).
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { explore, replay } from '../../explore/explore.js';
import type { Trigger } from '../../server/template.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt, parseSeed } from '../options.js';
import { UsageError } from '../usage-error.js';
import { parseTrigger } from './run.js';
import { EXPLORE_FOUND, progressLine, progressOf, REPLAY_TIMEOUT, reportExploration, reportReplay } from './explore-report.js';
import { exploreServedCommand, type ExploreFlags } from './explore-served.js';

export { EXPLORE_FOUND, REPLAY_TIMEOUT };


export function register(program: Command): void {
  program
    .command('explore')
    .description('freeze a program once, run clones of it under many thread schedules, and report the distinct outcomes')
    .argument('[command...]', 'the program and its arguments (after --); not with -p')
    .option('-p, --pid <pid>', 'explore a template already served by forkall run --serve --explorable (its PID) instead of starting the program')
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
change points, or a random walk: plain, sticky, or switching after a write; in
half the plain and after-write walks a draw takes a kind of thread, one start
routine, first). A clone whose threads are all blocked is ended at once as
"deadlock". Each run's outcome is its exit status or killing signal plus a
digest of its stdout and stderr, "deadlock", or "timeout". The table lists
each distinct outcome, how many runs ended that way and a seed that did. Each
failing outcome's seed is then replayed --confirm times in the same template
("replayed" k/n); replay it in a new template with --replay SEED (same program,
arguments and --at): the same seed gives the same schedule.

-p PID explores a template that 'forkall run --serve --explorable' froze: the
program is started (and warmed up) once, and any number of explorations and
replays run from that one frozen state, one at a time; while one runs the
template refuses plain clone requests.

Examples:
  forkall explore --runs 2000 -- ./server-test
  forkall explore --at threads=4 --seconds 30 --json -- ./app --flag
  forkall explore --at create --seconds 20 -- ./racy-test
  forkall explore --replay 8817264 -- ./server-test
  forkall run --serve --explorable --at threads=8 -- ./server &   # warm once, then:
  forkall explore -p <PID> --seconds 60        # and: forkall explore -p <PID> --replay SEED

Exit codes: 0 every run exited 0, 1 some run failed (non-zero exit, signal,
deadlock or timeout), 2 bad flags, 3 native artifact missing, 8 the program could not be
frozen or cloned. With --replay: the run's exit status, 128+N when killed by
signal N, 124 when it timed out or deadlocked.`,
    )
    .action(async (command: string[], o: ExploreFlags) => {
      if (o.pid !== undefined) return exploreServedCommand(command, o);
      if (!command.length) throw new UsageError('name the program to explore after --, or a served template with -p PID');
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
          process.exitCode = reportReplay(r, seed, timeoutMs, Boolean(o.json));
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
          onRun: live ? (table, _r, ms) => (ms - last > 200 ? ((last = ms), progressLine(progressOf(table, ms))) : undefined) : undefined,
        });
        if (live) process.stderr.write('\n');
        process.exitCode = reportExploration(report, Boolean(o.json));
      } catch (e) {
        if (live) process.stderr.write('\n');
        process.stderr.write(`forkall: ${(e as Error).message}\n`);
        process.exitCode = EXIT.CLONE_FAILED;
      }
    });
}
