// `forkall bench remote`: remote clone latency vs thread count, or of a real
// runtime (python3, java, node), next to the in-process engine.
import type { Command } from 'commander';
import type { RemoteBenchResult } from '../../bench/remote.js';
import { RUNTIMES, type Runtime } from '../../bench/runtimes.js';
import { EXIT } from '../exit-codes.js';
import { parseNumberList, parsePositiveInt } from '../options.js';
import { UsageError } from '../usage-error.js';

async function table(rows: RemoteBenchResult[]): Promise<string> {
  const { makeTable } = await import('../table.js');
  const t = makeTable(['target', 'threads', 'remote clone µs', 'original held µs', 'held p99 / max µs', 'in-process forkall µs', 'held / in-process', 'remote / in-process']);
  for (const r of rows)
    t.push([r.target, r.threads, r.remoteUs.toFixed(0), r.heldUs.toFixed(0), `${r.heldP99Us.toFixed(0)} / ${r.heldMaxUs.toFixed(0)}`, r.inProcessUs.toFixed(0), (r.heldUs / r.inProcessUs).toFixed(2), (r.remoteUs / r.inProcessUs).toFixed(1)]);
  const programs = [...new Set(rows.map((r) => r.program))].map((p) => `  ${p}`);
  const steps = rows.map((r) => `  ${r.target}, ${r.threads} threads: ` + Object.entries(r.phasesUs).map(([k, v]) => `${k} ${v}`).join(', '));
  return [t.toString(), 'medians (but p99 / max); in-process: forkall() of a C program with as many threads, 4 MB', 'targets:', ...programs, 'remote clone by step (µs):', ...steps].join('\n');
}

/** "c,python3" into runtimes; the error names the flag and the choices. */
function parseTargets(text: string): Runtime[] {
  const list = text.split(',').map((x) => x.trim()).filter(Boolean);
  const bad = list.find((x) => !(RUNTIMES as readonly string[]).includes(x));
  if (bad !== undefined || list.length === 0) throw new UsageError(`--target takes ${RUNTIMES.join(', ')} (or several, comma-separated), got '${text}'`);
  return [...new Set(list)] as Runtime[];
}

export function register(bench: Command): void {
  bench
    .command('remote')
    .description('remote clone latency (ptrace, by PID) of a C program by thread count, or of python3, java, node; next to the in-process engine')
    .option('--target <list>', `what to clone: ${RUNTIMES.join(', ')} (comma-separated for several)`, 'c')
    .option('--threads <list>', 'thread counts of the C target', '1,8,16,64,512')
    .option('--runs <n>', 'clones per target and thread count', '20')
    .option('--json', 'print {"results":[{"target","program","threads","runs","remoteUs","totalUs","heldUs","heldP99Us","heldMaxUs","inProcessUs","phasesUs"}],"skipped":[...]} as JSON')
    .addHelpText('after', `
Each run clones a running target with forkall's remote engine on this thread
(seize, capture, injected fork, thread recreation, detach) and then kills the
clone; "held" is how long the original's threads stayed stopped (median, and
its 99th percentile and longest: the tail a live service feels over many
consecutive clones). Every step's median is listed (phasesUs in JSON).

Targets: c is native/bench/forkall-target at each --threads count (4 MB touched,
every other thread blocked in a condition wait); python3 is a program with four
threads blocked on an Event; java a JVM with four sleeping threads (started
from source: it takes a few seconds); node a node process with a worker_threads
worker. A runtime that is not installed is skipped with a line saying so.

Examples:
  forkall bench remote
  forkall bench remote --threads 16 --runs 50 --json
  forkall bench remote --target python3,java,node --runs 30`)
    .action(async (o: { target: string; threads: string; runs: string; json?: boolean }) => {
      const targets = parseTargets(o.target);
      const threads = parseNumberList('--threads', o.threads, 1, 4096);
      const runs = parsePositiveInt('--runs', o.runs, 100000);
      const skipped: string[] = [];
      const { benchRemote } = await import('../../bench/remote.js'); // loaded when it runs, not for --help
      const results = await benchRemote({ targets, threads, runs, progress: !o.json, onSkip: (why) => skipped.push(why) });
      if (o.json) process.stdout.write(JSON.stringify({ results, skipped }, null, 2) + '\n');
      else {
        if (results.length) process.stdout.write((await table(results)) + '\n');
        for (const s of skipped) process.stdout.write(`skipped: ${s}\n`);
      }
      process.exitCode = EXIT.OK;
    });
}
