// `forkall run`: start a program under the agent, freeze it once, make clones.
import type { Command } from 'commander';
import { spawnTemplate, type Trigger, type CloneResult } from '../../server/template.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { makeTable, counted } from '../table.js';
import { UsageError } from '../usage-error.js';
import { runServe } from './run-serve.js';

export function parseTrigger(text: string): Trigger {
  if (text === 'request') return 'request';
  let m = /^threads=(\d+)$/.exec(text);
  if (m && Number(m[1]) > 0) return { threads: Number(m[1]) };
  m = /^delay=(\d+)(ms|s)?$/.exec(text);
  if (m) return { delayMs: Number(m[1]) * (m[2] === 's' ? 1000 : 1) };
  throw new UsageError(`--at expects threads=N, delay=DURATION (300ms, 2s) or request, got '${text}'`);
}

interface CloneRow {
  pid: number;
  threads: number;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
}

export function register(program: Command): void {
  program
    .command('run')
    .description('start a program under the agent, freeze it once, and make clones with every thread')
    .argument('<command...>', 'the program and its arguments (after --)')
    .option('--at <trigger>', 'when to freeze: threads=N (N program threads, settled), delay=DURATION, or request (at once)', 'delay=500ms')
    .option('-n, --clones <n>', 'how many clones to make (all alive at once; default 1)')
    .option('--serve', 'keep the frozen template and serve clone requests (forkall clone -p PID) until Ctrl-C')
    .option('--exact-tids', 'clones keep the template\'s PID and TIDs (a PID namespace each)')
    .option('--compact', 'move the frozen template\'s anonymous memory into huge pages: cheaper clones of big processes')
    .option('--timeout-ms <ms>', 'give up waiting for the snapshot or a clone after this long (not with --serve)', '30000')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
The program runs unmodified with libforkall-agent.so preloaded. Once frozen it never
runs its own code again; each clone is a fresh copy of the frozen state, with every
thread, and a child of the template. The clones share the template's
stdin/stdout/stderr (the Node API gives each clone its own: t.clone({ stdio })).
"request" freezes as soon as the program starts - too early for programs started
through a launcher script that execs them (pyenv shims, wrappers): prefer
threads=N or delay there. With --serve, "request" waits for forkall snapshot -p.

--serve: no clones are made by forkall run itself. It prints the template's PID
and serves it on a unix socket only you can use; 'forkall clone -p PID [-n N]'
asks it for clones (made by the agent, reported here as they start and end) and
'forkall snapshot -p PID' freezes it when --at request. Ctrl-C ends the template
and its clones.
"Settled" (threads=N): at least N threads besides the agent's, none running, in two
scans 20 ms apart. The template and its clones end when forkall does.

Examples:
  forkall run --at threads=8 --clones 5 -- ./my-server --config x
  forkall run --at delay=300ms -n 3 --json -- python3 app.py
  forkall run --at delay=300ms --serve -- python3 app.py      # then: forkall clone -p <PID>

Exit codes: 0 every clone was made (--serve: ended by Ctrl-C), 1 the program could
not be frozen or cloned (--serve: the template died), 2 bad flags.`,
    )
    .action(async (command: string[], o: { at: string; clones?: string; serve?: boolean; exactTids?: boolean; compact?: boolean; timeoutMs: string; json?: boolean }) => {
      const at = parseTrigger(o.at);
      if (o.serve && o.clones !== undefined) throw new UsageError('--clones does not go with --serve: clones are asked for with forkall clone -p PID -n N');
      const n = parsePositiveInt('--clones', o.clones ?? '1', 64);
      const timeoutMs = parsePositiveInt('--timeout-ms', o.timeoutMs);
      const [cmd, ...args] = command;
      const t0 = Date.now();
      const t = await spawnTemplate(cmd!, args, { at, exactTids: Boolean(o.exactTids), compact: Boolean(o.compact), timeoutMs, stdio: 'inherit' });
      if (o.serve) {
        try {
          process.exitCode = await runServe(t, at, Boolean(o.json), t0);
        } finally {
          await t.close();
        }
        return;
      }
      try {
        const threads = await t.snapshot();
        const snapshotMs = Date.now() - t0;
        const rows: CloneRow[] = await Promise.all(
          Array.from({ length: n }, async () => {
            const started = Date.now();
            const c = await t.clone();
            const r: CloneResult = await c.exited;
            return { pid: c.pid, threads: c.threads, exitCode: r.exitCode, signal: r.signal, durationMs: Date.now() - started };
          }),
        );
        if (o.compact && t.compactedMb === null)
          process.stderr.write('forkall: warning: the kernel refused MADV_COLLAPSE (Linux 6.1+ with THP enabled or madvise): clones are not compacted\n');
        const report = { templatePid: t.pid, snapshotMs, threads, compactedMb: o.compact ? t.compactedMb : undefined, clones: rows };
        if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
        else {
          const table = makeTable(['clone', 'pid', 'threads', 'exit', 'duration ms']);
          rows.forEach((r, i) => table.push([i + 1, r.pid, r.threads, r.signal ?? String(r.exitCode), r.durationMs]));
          process.stdout.write(`template ${t.pid} frozen after ${snapshotMs} ms with ${counted(threads, 'thread')}\n${table.toString()}\n`);
        }
        process.exitCode = EXIT.OK;
      } catch (e) {
        process.stderr.write(`forkall: ${(e as Error).message}\n`);
        process.exitCode = EXIT.VERIFY_FAILED;
      } finally {
        await t.close();
      }
    });
}
