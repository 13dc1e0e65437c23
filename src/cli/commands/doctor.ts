// `forkall doctor [-p PID] [--json]`: what forkall discovers about the C
// libraries it works with (for this machine, by running a small probe under
// each libc, or for one running process, as the remote engine sees it), the
// kernel features it uses, and what will degrade.
import type { Command } from 'commander';
import { parsePid, TargetError } from '../../proc/process.js';
import { RemoteError } from '../../remote/errors.js';
import { machineReport, machineText, pidReport, pidText } from '../../doctor/report.js';
import { EXIT } from '../exit-codes.js';
import { EXIT_FOR } from './clone.js';

export function register(program: Command): void {
  program
    .command('doctor')
    .description("report what forkall discovers about this machine's C libraries and kernel, or about one process, and what will degrade")
    .option('-p, --pid <pid>', 'inspect this running process as the remote engine would (it is held stopped for a moment, then let go unchanged)')
    .option('--json', 'print the report as JSON: {"kernel","libcs","degrades"} or, with -p, {"process","kernel","degrades"}')
    .addHelpText(
      'after',
      `
forkall finds its way around glibc and musl by rules (native/src/layout_rules.h):
where a thread's descriptor keeps its TID, where musl lists the locks a thread
owns, where ld.so keeps its locks. With new TIDs a clone rewrites those TIDs; if
a rule finds nothing, that rewrite is skipped — doctor tells you which, and why.

Without -p it runs a probe built for each C library (dynamic glibc, static
glibc, static musl) and reports, per libc: version, descriptor TID offset, rseq
area, robust-list registration, musl's owner list and its lock-word offset,
ld.so's lock region; and the kernel: rseq, clone3 set_tid (exact TIDs),
pidfd_getfd, userfaultfd, Yama ptrace_scope, transparent huge pages.

With -p PID it seizes the process like 'forkall clone -p' does before it forks,
reads every thread, and lets it go: libc kind, version and how it was told
(maps, the program's interpreter, or marks in a static executable), per-thread TID field and rseq area,
owner list, ld.so lock regions.

Examples:
  forkall doctor
  forkall doctor --json | jq .degrades
  forkall doctor -p $(pidof memcached)

Exit codes: 0 everything found, nothing degrades; 1 the report lists what will
degrade; 2 bad flag or -p value; 3 the glibc probe is missing or failed;
4 no such process; 5 zombie, kernel thread or forkall itself; 6 already traced;
7 ptrace denied; 8 the process could not be inspected (it was let go unchanged).`,
    )
    .action((o: { pid?: string; json?: boolean }) => {
      try {
        if (o.pid !== undefined) {
          const r = pidReport(parsePid(o.pid));
          process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : pidText(r));
          process.exitCode = r.degrades.length ? EXIT.VERIFY_FAILED : EXIT.OK;
          return;
        }
        const r = machineReport();
        process.stdout.write(o.json ? JSON.stringify(r, null, 2) + '\n' : machineText(r));
        const glibc = r.libcs.find((l) => l.name === 'glibc (dynamic)');
        if (!glibc?.ok) {
          process.stderr.write(`forkall: doctor: ${glibc?.error ?? 'no glibc probe'}\n`);
          process.exitCode = EXIT.NATIVE;
          return;
        }
        process.exitCode = r.degrades.length ? EXIT.VERIFY_FAILED : EXIT.OK;
      } catch (e) {
        if (e instanceof TargetError || e instanceof RemoteError) {
          process.stderr.write(`forkall: ${e.message}\n`);
          process.exitCode = EXIT_FOR[e.code];
          return;
        }
        throw e;
      }
    });
}
