// `forkall bench`: latency of fork, the floor (fork + N raw threads) and
// forkall, per thread count and resident size. Other benchmarks register
// themselves as subcommands of the command this returns.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { makeTable } from '../table.js';
import type { LatencyResult } from '../../bench/latency.js';
import { lineChartSvg, type Series } from '../../bench/svg-chart.js';
import { EXIT } from '../exit-codes.js';
import { parseMemoryMbList, parseNumberList, parsePositiveInt } from '../options.js';

function table(results: LatencyResult[], exact: boolean): string {
  const head = ['threads', 'RSS MB', 'fork us', 'floor us', 'forkall us', 'ratio', ...(exact ? ['exact-TID us'] : [])];
  const t = makeTable(head);
  for (const r of results)
    t.push([
      r.threads,
      r.rssMb,
      r.forkUs.toFixed(0),
      r.floorUs.toFixed(0),
      r.forkallUs.toFixed(0),
      r.ratio.toFixed(2),
      ...(exact ? [r.exactUs?.toFixed(0) ?? '-'] : []),
    ]);
  return t.toString() + '\nmedians; ratio = forkall / floor (floor = fork + N raw threads that exit at once)';
}

function chart(results: LatencyResult[]): string {
  const series: Series[] = [];
  for (const rss of [...new Set(results.map((r) => r.rssMb))]) {
    const rows = results.filter((r) => r.rssMb === rss);
    const kinds: Array<[string, (r: LatencyResult) => number | undefined]> = [
      ['fork', (r) => r.forkUs],
      ['floor', (r) => r.floorUs],
      ['forkall', (r) => r.forkallUs],
      ['exact TIDs', (r) => r.exactUs],
    ];
    for (const [name, get] of kinds) {
      const points = rows.flatMap((r) => (get(r) === undefined ? [] : [{ x: r.threads, y: get(r)! }]));
      if (points.length) series.push({ name: `${name}, ${rss} MB`, points });
    }
  }
  return lineChartSvg('forkall latency (median, incl. child exit + waitpid)', 'threads', 'microseconds', series);
}

export function register(program: Command): Command {
  const bench = program
    .command('bench')
    .description('measure fork, the floor (fork + N raw threads) and forkall latency')
    .enablePositionalOptions() // `bench server --threads ...` belongs to the subcommand
    .option('--threads <list>', 'thread counts', '1,8,64,512')
    .option('--rss-mb <list>', 'touched anonymous memory, MB', '4,256')
    .option('--runs <n>', 'repetitions per configuration (medians are reported)', '40')
    .option('--exact', 'also measure exact-TID forkall')
    .option('--json', 'print {"results":[...]} as JSON')
    .option('--svg <file>', 'write an SVG chart of latency against threads')
    .addHelpText(
      'after',
      `
Each configuration runs in one process; fork, floor and forkall alternate so that
they share the machine's noise. Every timing includes the child's exit and the
parent's waitpid. This is a benchmark, not a test.

Examples:
  forkall bench
  forkall bench --threads 8 --rss-mb 4 --runs 200
  forkall bench --exact --json --svg latency.svg`,
    )
    .action(async (o: { threads: string; rssMb: string; runs: string; exact?: boolean; json?: boolean; svg?: string }) => {
      const threads = parseNumberList('--threads', o.threads, 1, 4096);
      const rssMb = parseMemoryMbList('--rss-mb', o.rssMb);
      const runs = parsePositiveInt('--runs', o.runs, 100000);
      const { benchLatency } = await import('../../bench/latency.js'); // loaded when it runs, not for --help
      const results = await benchLatency({ threads, rssMb, runs, exact: Boolean(o.exact) });
      if (o.svg) writeFileSync(o.svg, chart(results));
      process.stdout.write(o.json ? JSON.stringify({ results }, null, 2) + '\n' : table(results, Boolean(o.exact)) + '\n');
      process.exitCode = EXIT.OK;
    });
  return bench;
}
