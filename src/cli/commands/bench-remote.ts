// `forkall bench remote`: remote clone latency vs thread count, next to the in-process engine.
import type { Command } from 'commander';
import { benchRemote, type RemoteBenchResult } from '../../bench/remote.js';
import { EXIT } from '../exit-codes.js';
import { parseNumberList, parsePositiveInt } from '../options.js';
import { makeTable } from '../table.js';

function table(rows: RemoteBenchResult[]): string {
  const t = makeTable(['threads', 'remote clone µs', 'original held µs', 'in-process forkall µs', 'remote / in-process']);
  for (const r of rows) t.push([r.threads, r.remoteUs.toFixed(0), r.heldUs.toFixed(0), r.inProcessUs.toFixed(0), (r.remoteUs / r.inProcessUs).toFixed(1)]);
  const steps = rows.map((r) => `  ${r.threads} threads: ` + Object.entries(r.phasesUs).map(([k, v]) => `${k} ${v}`).join(', '));
  return [t.toString(), 'medians; target: 4 MB of touched memory, every other thread blocked in a condition wait', 'remote clone by step (µs):', ...steps].join('\n');
}

export function register(bench: Command): void {
  bench
    .command('remote')
    .description('remote clone latency (ptrace, by PID) against thread count, next to the in-process engine')
    .option('--threads <list>', 'thread counts of the target', '1,8,16,64,512')
    .option('--runs <n>', 'clones per thread count', '20')
    .option('--json', 'print {"results":[{"threads","runs","remoteUs","heldUs","inProcessUs","phasesUs"}]} as JSON')
    .addHelpText('after', `
Each run clones a running 4 MB target with forkall's remote engine on this
thread (seize, capture, injected fork, thread recreation, detach) and then kills
the clone; "held" is how long the original's threads stayed stopped.

Examples:
  forkall bench remote
  forkall bench remote --threads 16 --runs 50 --json`)
    .action(async (o: { threads: string; runs: string; json?: boolean }) => {
      const results = await benchRemote({
        threads: parseNumberList('--threads', o.threads, 1, 4096),
        runs: parsePositiveInt('--runs', o.runs, 100000),
        progress: !o.json,
      });
      process.stdout.write(o.json ? JSON.stringify({ results }, null, 2) + '\n' : table(results) + '\n');
      process.exitCode = EXIT.OK;
    });
}
