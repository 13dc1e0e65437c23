// `forkall threads -p PID`: what each thread of a process is doing.
import type { Command } from 'commander';
import { readThreads } from '../../proc/tasks.js';
import { checkTarget, parsePid, TargetError } from '../../proc/process.js';
import { EXIT } from '../exit-codes.js';
import { makeTable, counted } from '../table.js';

export function register(program: Command): void {
  program
    .command('threads')
    .description('show what each thread of a process is doing: state, system call, wait channel, name, CPUs, policy')
    .requiredOption('-p, --pid <pid>', 'the process to inspect')
    .option('--json', 'print {"pid","threads":[...]} as JSON')
    .addHelpText(
      'after',
      `
Reads /proc only: the process is not stopped or traced.

Examples:
  forkall threads -p 4242
  forkall threads -p $(pidof memcached) --json

Exit codes: 0 ok, 2 bad -p value, 4 no such process, 5 zombie or kernel thread.`,
    )
    .action((o: { pid: string; json?: boolean }) => {
      try {
        const pid = parsePid(o.pid);
        checkTarget(pid, { exitedLeaderOk: true });
        const threads = readThreads(pid);
        if (o.json) {
          process.stdout.write(JSON.stringify({ pid, threads }, null, 2) + '\n');
        } else {
          const t = makeTable(['tid', 'name', 'state', 'syscall', 'wchan', 'cpus', 'policy', 'nice']);
          for (const th of threads) t.push([th.tid, th.name, th.state, th.syscall, th.wchan, th.cpus, th.policy, th.nice]);
          process.stdout.write(`${t.toString()}\n${counted(threads.length, 'thread')} in process ${pid}\n`);
        }
        process.exitCode = EXIT.OK;
      } catch (e) {
        if (!(e instanceof TargetError)) throw e;
        process.stderr.write(`forkall: ${e.message}\n`);
        process.exitCode = e.code === 'bad-pid' ? EXIT.USAGE : e.code === 'no-such-process' ? EXIT.NO_PROCESS : EXIT.BAD_TARGET;
      }
    });
}
