// `forkall bench explore`: schedules/s from a snapshot vs re-running from the start.
import type { Command } from 'commander';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { makeTable } from '../table.js';

export function register(bench: Command): void {
  bench
    .command('explore')
    .description('schedules per second from a snapshot after a long warm-up vs re-running the program from its start')
    .option('--warmup-ms <ms>', 'how long the program works before its racy section', '2000')
    .option('--seconds <s>', 'how long to explore from the snapshot', '10')
    .option('--jobs <j>', 'runs alive at once (both ways)', '4')
    .option('--restarts <n>', 'how many runs from the start', '8')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The program is native/explore-examples/atomicity: it warms up for --warmup-ms,
then calls forkall_snapshot() before its racy section. From the snapshot each
schedule is a clone; from the start each schedule is a new process that warms
up again (libforkall-sched.so preloaded the same way, perturbing from its first
synchronisation point). Both are measured in the same invocation.`,
    )
    .action(async (o: { warmupMs: string; seconds: string; jobs: string; restarts: string; json?: boolean }) => {
      const { benchExplore } = await import('../../explore/bench.js'); // loaded when it runs, not for --help
      const r = await benchExplore({
        warmupMs: parsePositiveInt('--warmup-ms', o.warmupMs),
        seconds: parsePositiveInt('--seconds', o.seconds),
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
