// `forkall bench tree`: cloning a process tree at once vs its processes one by one.
import type { Command } from 'commander';
import type { TreeBenchResult } from '../../bench/tree.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { makeTable } from '../table.js';

function table(r: TreeBenchResult): string {
  const t = makeTable(['how', 'held µs', 'total µs']);
  t.push(['clone --tree', r.treeHeldUs.toFixed(0), r.treeTotalUs.toFixed(0)]);
  if (r.exactHeldUs !== undefined) t.push(['clone --tree --exact-tids', r.exactHeldUs.toFixed(0), r.exactTotalUs!.toFixed(0)]);
  t.push(['one by one', r.oneByOneHeldUs.toFixed(0), r.oneByOneTotalUs.toFixed(0)]);
  return [
    t.toString(),
    `medians of ${r.runs} runs; ${r.processes} processes × ${r.threadsPerProcess} threads, ${r.mbPerProcess} MB written by each`,
    'held: --tree, the whole tree (first seize to last release); one by one, the longest single hold (each process is held alone, at another instant)',
    'clone --tree by step (µs): ' + Object.entries(r.phasesUs).map(([k, v]) => `${k} ${v}`).join(', '),
  ].join('\n');
}

export function register(bench: Command): void {
  bench
    .command('tree')
    .description('clone a process tree at once (clone --tree) next to cloning its processes one by one')
    .option('--children <n>', 'child processes of the root', '4')
    .option('--threads <n>', 'threads per process', '8')
    .option('--rss-mb <n>', 'MB of memory each process writes', '64')
    .option('--runs <n>', 'clones of each kind', '10')
    .option('--exact-tids', 'also clone the tree with --exact-tids (one PID namespace keeping every number) in each run (root only)')
    .option('--json', 'print {"processes","threadsPerProcess","mbPerProcess","runs","treeHeldUs","treeTotalUs","oneByOneHeldUs","oneByOneTotalUs","phasesUs","exactHeldUs"?,"exactTotalUs"?} as JSON')
    .addHelpText('after', `
The tree is native/bench/forkall-tree-target: a root and --children children,
each with --threads threads and --rss-mb MB it wrote itself. Each run clones
it with the remote engine on this thread, once as a tree and once process by
process (the two alternate, so they share the machine's noise), and kills the
clones. A tree clone copies into each child's copy only the pages that differ
from its parent's; one by one, each clone is a fork of its own process.
--exact-tids adds a third clone to each run: the tree with every PID and TID
kept in a new PID namespace (docs/tree.md).

Examples:
  forkall bench tree
  forkall bench tree --runs 20 --json
  forkall bench tree --exact-tids`)
    .action(async (o: { children: string; threads: string; rssMb: string; runs: string; exactTids?: boolean; json?: boolean }) => {
      const { benchTree } = await import('../../bench/tree.js'); // loaded when it runs, not for --help
      const r = await benchTree({
        children: parsePositiveInt('--children', o.children, 64),
        threads: parsePositiveInt('--threads', o.threads, 512),
        rssMb: parsePositiveInt('--rss-mb', o.rssMb, 4096),
        runs: parsePositiveInt('--runs', o.runs, 10000),
        progress: !o.json,
        exactTids: o.exactTids,
      });
      process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : table(r) + '\n');
      process.exitCode = EXIT.OK;
    });
}
