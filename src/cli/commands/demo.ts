// `forkall demo`: clone the bundled multi-threaded example and verify every
// thread of every clone.
import type { Command } from 'commander';
import { makeTable, counted } from '../table.js';
import { runDemo, type DemoReport } from '../../demo/run-demo.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';

function render(r: DemoReport): string {
  const lines: string[] = [];
  const head = ['thread', 'name', 'state at the snapshot', ...r.clones.map((c) => `clone ${c.index + 1}`)];
  const t = makeTable(head);
  for (const th of r.threads) {
    const cells = r.clones.map((c) => {
      const k = r.checks.find((x) => x.clone === c.index && x.label === th.label);
      return k && k.resumed && k.same ? 'resumed, same result' : k?.resumed ? 'DIFFERENT result' : 'NOT resumed';
    });
    t.push([th.label, th.name, th.state, ...cells]);
  }
  lines.push(t.toString());
  if (r.original) {
    const res = makeTable(['thread', 'result (original and every clone)']);
    for (const th of r.threads) res.push([th.label, r.original.results[th.label] ?? '-']);
    lines.push(res.toString());
    lines.push(
      `clones: ${r.clones.map((c) => `pid ${c.pid} (${counted(c.threads, 'thread')})`).join(', ')}; original: ${counted(r.original.threads, 'thread')}`,
    );
  }
  if (r.timing)
    lines.push(
      `latency (median of ${r.timing.samples}, same process, same run): forkall() ${r.timing.forkallMedianUs.toFixed(0)} us, ` +
        `fork() ${r.timing.forkMedianUs.toFixed(0)} us (fork keeps only the calling thread)`,
    );
  lines.push(r.ok ? 'verified: every thread resumed in every clone with the same result' : `FAILED: ${r.reason}`);
  return lines.join('\n');
}

export function register(program: Command): void {
  program
    .command('demo')
    .description('clone a bundled multi-threaded example with forkall() and verify every thread of every clone')
    .option('-n, --clones <n>', 'how many clones to make (1-64)', '3')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
The example has worker threads waiting on a condition variable, blocked in read(),
sleeping in nanosleep(), spinning with values in AVX registers, and holding a mutex.
Each clone lets them finish; their results must equal the original's.

Examples:
  forkall demo
  forkall demo --clones 10 --json

Exit codes: 0 verified, 1 a clone differed or failed, 2 bad flags, 3 native program missing.`,
    )
    .action(async (opts: { clones: string; json?: boolean }) => {
      const clones = parsePositiveInt('--clones', opts.clones, 64);
      const report = await runDemo(clones);
      process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : render(report) + '\n');
      process.exitCode = report.ok ? EXIT.OK : EXIT.VERIFY_FAILED;
    });
}
