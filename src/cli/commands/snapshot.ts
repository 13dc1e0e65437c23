// `forkall snapshot -p PID`: ask a program served by `forkall run --serve` to freeze now.
import type { Command } from 'commander';
import { checkTarget, parsePid, TargetError } from '../../proc/process.js';
import { askServed, isServed, ServeError } from '../../server/serve-client.js';
import { servePath } from '../../server/serve-path.js';
import { EXIT } from '../exit-codes.js';
import { counted } from '../table.js';

const EXIT_FOR_TARGET = { 'bad-pid': EXIT.USAGE, 'no-such-process': EXIT.NO_PROCESS } as Record<string, number>;

export function register(program: Command): void {
  program
    .command('snapshot')
    .description('ask a program started by `forkall run --serve` to freeze now (its template is then ready for clones)')
    .requiredOption('-p, --pid <pid>', 'the template process (the PID `forkall run --serve` printed)')
    .option('--json', 'print {"pid","threads"} as JSON')
    .addHelpText(
      'after',
      `
The program must have been started by \`forkall run --serve\` (by you): it listens
on ${servePath(0).replace('0.sock', '<PID>.sock')}. Once frozen, the template never
runs its own code again; \`forkall clone -p PID\` then makes clones of it. Asking
a template that is already frozen just reports its thread count.

Examples:
  forkall run --at request --serve -- python3 app.py &
  forkall snapshot -p <PID>
  forkall clone -p <PID> -n 3

Exit codes: 0 frozen, 1 the agent could not freeze it (the message names the
thread), 2 bad -p, 4 no such process, 5 not a template served by forkall run --serve.`,
    )
    .action(async (o: { pid: string; json?: boolean }) => {
      try {
        const pid = parsePid(o.pid);
        checkTarget(pid);
        if (!isServed(pid)) {
          process.stderr.write(`forkall: PID ${pid} is not a template served by 'forkall run --serve' (no ${servePath(pid)})\n`);
          process.exitCode = EXIT.BAD_TARGET;
          return;
        }
        const r = await askServed(pid, { op: 'snapshot' });
        if (!r.ok) {
          process.stderr.write(`forkall: template ${pid}: ${r.error}\n`);
          process.exitCode = EXIT.VERIFY_FAILED;
          return;
        }
        process.stdout.write(o.json ? JSON.stringify({ pid, threads: r.threads }) + '\n' : `template ${pid} frozen with ${counted(r.threads, 'thread')}\n`);
        process.exitCode = EXIT.OK;
      } catch (e) {
        if (e instanceof TargetError) {
          process.stderr.write(`forkall: ${e.message}\n`);
          process.exitCode = EXIT_FOR_TARGET[e.code] ?? EXIT.BAD_TARGET;
        } else if (e instanceof ServeError) {
          process.stderr.write(`forkall: ${e.message}\n`);
          process.exitCode = EXIT.BAD_TARGET;
        } else throw e;
      }
    });
}
