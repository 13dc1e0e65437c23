// `forkall bench cli`: wall time of the forkall command itself, next to `node -e 0`.
import type { Command } from 'commander';
import type { CliBenchResult } from '../../bench/cli.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';

async function table(r: CliBenchResult): Promise<string> {
  const { makeTable } = await import('../table.js');
  const t = makeTable(['command', 'median ms', 'min ms', 'max ms', '× node -e 0']);
  for (const x of r.results) t.push([x.name, x.medianMs.toFixed(1), x.minMs.toFixed(1), x.maxMs.toFixed(1), x.vsNode.toFixed(2)]);
  const runs = r.results[0]?.runs ?? 0;
  return [t.toString(), `medians of ${runs} runs, wall time from spawn to exit, the commands taking turns in each run`, ...r.skipped.map((s) => `skipped: ${s}`)].join('\n');
}

export function register(bench: Command): void {
  bench
    .command('cli')
    .description('wall time of the forkall command (start-up, clone -p) next to node -e 0')
    .option('--runs <n>', 'runs of each command (medians are reported)', '20')
    .option('--json', 'print {"results":[{"name","runs","medianMs","minMs","maxMs","vsNode"}],"skipped":[...]} as JSON')
    .addHelpText('after', `
Runs, in turn and as separate processes: 'node -e 0' (node's own start-up),
'forkall --version', and 'forkall clone -p PID' of a 16-thread C target
(native/bench/forkall-target, 4 MB) and of a python3 program with 5 threads,
each clone killed after its run; reports the median wall time of each (spawn to
exit) and its ratio to 'node -e 0'. One uncounted run goes first. Without
python3 the python row is skipped with a line saying so. A progress bar is drawn
on stderr when it is a terminal. This is a benchmark: the tests never assert
timings.

Examples:
  forkall bench cli
  forkall bench cli --runs 50 --json`)
    .action(async (o: { runs: string; json?: boolean }) => {
      const runs = parsePositiveInt('--runs', o.runs, 10000);
      const { benchCli } = await import('../../bench/cli.js');
      const r = await benchCli({ runs, progress: !o.json });
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : (await table(r)) + '\n');
      process.exitCode = EXIT.OK;
    });
}
