// `forkall bench server`: clone rate from a frozen template vs a plain fork server vs exec-per-run.
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ServerResult } from '../../bench/server.js';
import { lineChartSvg, type Series } from '../../bench/svg-chart.js';
import { EXIT } from '../exit-codes.js';
import { parseMemoryMbList, parseNumberList, parsePositiveInt } from '../options.js';
import { makeTable } from '../table.js';

function table(rows: ServerResult[]): string {
  const t = makeTable(['threads', 'MB', 'template /s', 'us/clone', 'compact /s', 'us/clone', 'collapsed MB', 'fork server /s', 'exec /s', 'template / fork server', 'template / exec']);
  for (const r of rows)
    t.push([
      r.threads,
      r.rssMb,
      r.templatePerSec.toFixed(0),
      r.templateCloneUs.toFixed(0),
      r.compactPerSec.toFixed(0),
      r.compactCloneUs.toFixed(0),
      r.compactedMb === null ? 'refused' : r.compactedMb,
      r.forkServerPerSec.toFixed(0),
      r.execPerSec.toFixed(0),
      (r.templatePerSec / r.forkServerPerSec).toFixed(2),
      (r.templatePerSec / r.execPerSec).toFixed(1),
    ]);
  return t.toString() + '\nfork server: single-threaded run of the same program, one fork per request (AFL++ style)';
}

function chart(rows: ServerResult[]): string {
  const series: Series[] = [];
  for (const mb of [...new Set(rows.map((r) => r.rssMb))]) {
    const at = rows.filter((r) => r.rssMb === mb);
    const kinds: Array<[string, (r: ServerResult) => number]> = [
      ['template', (r) => r.templatePerSec],
      ['compacted template', (r) => r.compactPerSec],
      ['fork server', (r) => r.forkServerPerSec],
      ['exec per run', (r) => r.execPerSec],
    ];
    for (const [name, get] of kinds) series.push({ name: `${name}, ${mb} MB`, points: at.map((r) => ({ x: r.threads, y: get(r) })) });
  }
  return lineChartSvg('clones per second from a frozen template', 'template threads', 'runs per second', series);
}

export function register(bench: Command): void {
  bench
    .command('server')
    .description('clones per second from a frozen template (plain and compacted) vs a plain fork server vs exec-per-run')
    .option('--threads <list>', 'template thread counts', '1,8,64')
    .option('--rss-mb <list>', 'touched anonymous memory, MB', '4,1024')
    .option('--clones <n>', 'clones (and fork-server runs) per measurement', '200')
    .option('--exec-runs <n>', 'exec-per-run repetitions', '30')
    .option('--json', 'print {"results":[...]} as JSON')
    .option('--svg <file>', 'write an SVG chart of the rates against template threads')
    .addHelpText('after', `
Each clone (and each fork-server child and exec'd run) writes one byte of the big
buffer and exits; rates include the request and the exit report.

Examples:
  forkall bench server
  forkall bench server --threads 8 --rss-mb 1024 --clones 100 --json --svg server.svg`)
    .action(async (o: { threads: string; rssMb: string; clones: string; execRuns: string; json?: boolean; svg?: string }) => {
      const threads = parseNumberList('--threads', o.threads, 1, 4096);
      const rssMb = parseMemoryMbList('--rss-mb', o.rssMb);
      const { benchServer } = await import('../../bench/server.js'); // loaded when it runs, not for --help
      const results = await benchServer({
        threads,
        rssMb,
        clones: parsePositiveInt('--clones', o.clones, 100000),
        execRuns: parsePositiveInt('--exec-runs', o.execRuns, 100000),
      });
      if (o.svg) writeFileSync(o.svg, chart(results));
      process.stdout.write(o.json ? JSON.stringify({ results }, null, 2) + '\n' : table(results) + '\n');
      process.exitCode = EXIT.OK;
    });
}
