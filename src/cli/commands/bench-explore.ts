// `forkall bench explore`: schedules/s from a snapshot vs re-running from the
// start; with --suite DIR, SCTBench's buggy programs explored one by one.
import type { Command } from 'commander';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SuiteResult } from '../../explore/suite.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { makeTable } from '../table.js';

interface Flags {
  warmupMs: string;
  seconds?: string;
  jobs: string;
  restarts: string;
  suite?: string;
  buildDir?: string;
  trials: string;
  only?: string;
  timeoutMs: string;
  seed?: string;
  json?: boolean;
}

// the explore driver and the suite runner (and the C library through them) are
// loaded when the command runs, not for `forkall bench ... --help`
const loadSuite = () => import('../../explore/suite.js');

function suiteSummary(results: SuiteResult[], median: (xs: number[]) => number | null) {
  const found = results.filter((r) => r.found);
  const times = found.map((r) => r.msToBug!);
  return {
    programs: results.length,
    found: found.length,
    notBuilt: results.filter((r) => r.error).length,
    medianMsToBug: median(times),
    medianSchedulesPerSec: median(results.filter((r) => r.runs > 0).map((r) => r.schedulesPerSec)),
  };
}

async function suite(o: Flags): Promise<void> {
  const { median, runSuite } = await loadSuite();
  const seconds = parsePositiveInt('--seconds', o.seconds ?? '20');
  const trials = parsePositiveInt('--trials', o.trials, 100);
  const jobs = parsePositiveInt('--jobs', o.jobs, 64);
  const timeoutMs = parsePositiveInt('--timeout-ms', o.timeoutMs);
  const buildDir = o.buildDir ?? join(tmpdir(), 'forkall-sctbench-build');
  const only = o.only?.split(',').filter(Boolean);
  const out: { trial: number; seed: string; summary: ReturnType<typeof suiteSummary>; results: SuiteResult[] }[] = [];
  for (let t = 0; t < trials; t++) {
    const seed = o.seed !== undefined ? BigInt(o.seed) + BigInt(t) * 1_000_000n : BigInt(randomBytes(4).readUInt32LE()) * 1000n;
    if (!o.json) process.stderr.write(`trial ${t + 1}/${trials}: seed ${seed}, ${seconds} s per program, ${jobs} jobs\n`);
    const results = await runSuite({
      dir: o.suite!,
      buildDir,
      seconds,
      jobs,
      timeoutMs,
      seed,
      only,
      onProgram: o.json
        ? undefined
        : (r, done, total) =>
            process.stderr.write(
              `  [${done}/${total}] ${r.program}: ${r.error ? `not run (${r.error.slice(0, 100)})` : r.found ? `found in ${(r.msToBug! / 1000).toFixed(2)} s (${r.bug!.outcome})` : 'not found'}, ${r.runs} runs, ${r.schedulesPerSec.toFixed(0)}/s${r.timeouts ? `, ${r.timeouts} timeouts` : ''}\n`,
            ),
    });
    out.push({ trial: t + 1, seed: seed.toString(), summary: suiteSummary(results, median), results });
  }
  if (o.json) process.stdout.write(JSON.stringify({ suite: o.suite, secondsPerProgram: seconds, jobs, timeoutMs, trials: out }, null, 2) + '\n');
  else {
    const table = makeTable(['program', ...out.map((t) => `trial ${t.trial}: s to bug`), 'schedules/s']);
    for (let i = 0; i < out[0]!.results.length; i++) {
      const row = out.map((t) => {
        const r = t.results[i]!;
        return r.error ? 'not built' : r.found ? (r.msToBug! / 1000).toFixed(2) : '-';
      });
      const rate = median(out.map((t) => t.results[i]!).filter((r) => r.runs > 0).map((r) => r.schedulesPerSec));
      table.push([out[0]!.results[i]!.program, ...row, rate === null ? '' : rate.toFixed(0)]);
    }
    process.stdout.write(`${table.toString()}\n`);
    for (const t of out)
      process.stdout.write(
        `trial ${t.trial} (seed ${t.seed}): found ${t.summary.found} of ${t.summary.programs} (${t.summary.notBuilt} not built); median time to first bug ${t.summary.medianMsToBug === null ? '-' : (t.summary.medianMsToBug / 1000).toFixed(2) + ' s'}; median ${t.summary.medianSchedulesPerSec?.toFixed(0) ?? '-'} schedules/s\n`,
      );
  }
  process.exitCode = EXIT.OK;
}

export function register(bench: Command): void {
  bench
    .command('explore')
    .description('schedules per second from a snapshot vs re-running from the start; or, with --suite, SCTBench\'s buggy programs')
    .option('--warmup-ms <ms>', 'how long the program works before its racy section', '2000')
    .option('--seconds <s>', 'how long to explore from the snapshot (with --suite: per program, default 20)')
    .option('--jobs <j>', 'runs alive at once (both ways)', '4')
    .option('--restarts <n>', 'how many runs from the start', '8')
    .option('--suite <dir>', 'a checkout of github.com/mc-imperial/sctbench: build and explore each program of benchmarks/buggy.txt')
    .option('--build-dir <dir>', 'with --suite: where the programs are built (default: $TMPDIR/forkall-sctbench-build)')
    .option('--trials <n>', 'with --suite: how many times to run the whole list', '1')
    .option('--only <ids>', 'with --suite: only programs whose id (group.name) contains one of these, comma-separated')
    .option('--timeout-ms <ms>', 'with --suite: a run still alive after this long is killed (a timeout, not a bug)', '2000')
    .option('--seed <n>', 'with --suite: the first seed of trial 1 (default: random, printed)')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Without --suite the program is native/explore-examples/atomicity: it warms up
for --warmup-ms, then calls forkall_snapshot() before its racy section. From
the snapshot each schedule is a clone; from the start each schedule is a new
process that warms up again (libforkall-sched.so preloaded the same way,
scheduling from its first synchronisation point). Both are measured in the
same invocation.

With --suite DIR (a checkout of github.com/mc-imperial/sctbench, which forkall
does not ship) each program of benchmarks/buggy.txt is built with
-fsanitize=thread against libforkall-sched.so (memory accesses become
scheduling points), frozen at its first pthread_create, and explored for
--seconds or until the first failing run (an assert, a crash, a non-zero exit
or a deadlock; timeouts are counted apart). Per program: seconds to the first
failing run (after the snapshot) and schedules per second; per trial: how many
were found. 48 of the 49 are built (radbench.bug1 needs a Firefox tarball
SCTBench does not ship); parsec-2.0.ferret needs pkg-config, libgsl-dev and
libmagickcore-6.q16-dev (Debian names), else it is listed as not built.

Examples:
  forkall bench explore
  forkall bench explore --suite /tmp/sctbench --seconds 20 --trials 3
  forkall bench explore --suite /tmp/sctbench --only reorder,account --json`,
    )
    .action(async (o: Flags) => {
      if (o.suite !== undefined) return suite(o);
      const { benchExplore } = await import('../../explore/bench.js');
      const r = await benchExplore({
        warmupMs: parsePositiveInt('--warmup-ms', o.warmupMs),
        seconds: parsePositiveInt('--seconds', o.seconds ?? '10'),
        jobs: parsePositiveInt('--jobs', o.jobs, 64),
        restarts: parsePositiveInt('--restarts', o.restarts),
      });
      if (o.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      else {
        const t = makeTable(['program', 'warm-up ms', 'snapshot ms', 'from snapshot /s', 'from start /s', 'ratio']);
        t.push([r.program, r.warmupMs, r.snapshotMs, r.snapshotPerSec.toFixed(1), r.restartPerSec.toFixed(2), r.ratio.toFixed(0)]);
        process.stdout.write(`${t.toString()}\n${r.snapshotRuns} schedules from the snapshot, ${r.restartRuns} from the start\n`);
      }
      process.exitCode = EXIT.OK;
    });
}
