// `forkall run`: start a program under the agent, freeze it once, make clones.
import type { Command } from 'commander';
import { spawnTemplate, type Trigger } from '../../server/template.js';
import { EXIT } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { UsageError } from '../usage-error.js';
import { runClones } from './run-clones.js';
import { runServe } from './run-serve.js';
import { Mailbox } from '../../explore/mailbox.js';
import { nativeArtifact } from '../../native/paths.js';
import { elfFacts, goRefusal, staticRefusal } from './run-elf.js';

export function parseTrigger(text: string): Trigger {
  if (text === 'request') return 'request';
  let m = /^threads=(\d+)$/.exec(text);
  if (m && Number(m[1]) > 0) return { threads: Number(m[1]) };
  m = /^delay=(\d+)(ms|s)?$/.exec(text);
  if (m) return { delayMs: Number(m[1]) * (m[2] === 's' ? 1000 : 1) };
  throw new UsageError(`--at expects threads=N, delay=DURATION (300ms, 2s) or request, got '${text}'`);
}

export function register(program: Command): void {
  program
    .command('run')
    .description('start a program under the agent, freeze it once, and make clones with every thread')
    .argument('<command...>', 'the program and its arguments (after --)')
    .option('--at <trigger>', 'when to freeze: threads=N (N program threads, settled), delay=DURATION, or request (at once)', 'delay=500ms')
    .option('-n, --clones <n>', 'how many clones to make (all alive at once; default 1)')
    .option('--serve', 'keep the frozen template and serve clone requests (forkall clone -p PID) until Ctrl-C')
    .option('--explorable', 'with --serve: start the program with the thread scheduler too, so that forkall explore -p PID can run its frozen state under many schedules')
    .option('--exact-tids', 'clones keep the template\'s PID and TIDs (a PID namespace each)')
    .option('--compact', 'move the frozen template\'s anonymous memory into huge pages: cheaper clones of big processes')
    .option('--shared-fds', 'clones share the template\'s epoll instances, eventfds, timerfds, signalfds and self-pipes, as after fork (default: private copies)')
    .option('--timeout-ms <ms>', 'bound the whole run: clones still alive then are killed, exit 124 (not with --serve)', '30000')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
The program runs unmodified with libforkall-agent.so preloaded. Once frozen it never
runs its own code again; each clone is a fresh copy of the frozen state, with every
thread, and a child of the template. The clones share the template's
stdin/stdout/stderr (the Node API gives each clone its own: t.clone({ stdio })).
"request" freezes as soon as the program starts. A launcher on its way to the
program (a shell or env: pyenv shims, wrapper scripts) is not frozen: its
trigger waits FORKALL_LAUNCHER_WAIT_MS (default 3000) for it to exec the program.
With --serve, "request" waits for forkall snapshot -p.

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

Each clone gets its own copy of the event objects its event loop owns (epoll,
eventfd, timerfd, signalfd, pipes and socketpairs between its own fds), so
clones run side by side; sockets and files stay shared (clones serve the same
port). --shared-fds gives fork's plain sharing back. What a clone could not
make private is reported (notCopied). Runtimes that cache thread IDs need
--exact-tids: Go programs are refused without it; Python asyncio needs it.

A program the agent cannot freeze (a thread blocks every signal, as in node, or
does not park in time) is held
stopped instead and each clone is made from outside with ptrace (the remote
engine): an extra "held" event says so, "via" is "ptrace".

Progress is reported as it happens: the snapshot, each clone's PID when it
exists, its end when it ends (also after Ctrl-C or --timeout-ms, which kill the
clones still alive), then a summary; --json prints one object per line:
{"event":"frozen"|"cloned"|"notCopied"|"exited"|"timeout"|"done", ...}.

Exit codes: 0 every clone was made and ended (--serve: ended by Ctrl-C), 1 the
program could not be frozen or cloned (--serve: the template died), 2 bad
flags, 124 --timeout-ms reached (clones killed), 130 interrupted.`,
    )
    .action(async (command: string[], o: { at: string; clones?: string; serve?: boolean; explorable?: boolean; exactTids?: boolean; compact?: boolean; sharedFds?: boolean; timeoutMs: string; json?: boolean }) => {
      const at = parseTrigger(o.at);
      if (o.serve && o.clones !== undefined) throw new UsageError('--clones does not go with --serve: clones are asked for with forkall clone -p PID -n N');
      if (o.explorable && !o.serve) throw new UsageError('--explorable goes with --serve: forkall explore -p PID explores a served template (or run forkall explore -- PROGRAM)');
      if (o.explorable && o.exactTids) throw new UsageError('--explorable does not go with --exact-tids: the scheduler tells a clone from the template by its PID, which an exact-TID clone keeps');
      const n = parsePositiveInt('--clones', o.clones ?? '1', 64);
      const timeoutMs = parsePositiveInt('--timeout-ms', o.timeoutMs);
      const [cmd, ...args] = command;
      const elf = elfFacts(cmd!);
      if (elf?.static || (elf?.go && !o.exactTids)) {
        process.stderr.write(`forkall: ${elf.static ? staticRefusal(cmd!) : goRefusal(cmd!, command)}\n`);
        process.exitCode = EXIT.VERIFY_FAILED;
        return;
      }
      const t0 = Date.now();
      const mailbox = o.explorable ? new Mailbox() : undefined;
      const sched = mailbox ? { preload: [nativeArtifact('libforkall-sched.so')], env: { ...process.env, FORKALL_EXPLORE: mailbox.path } } : {};
      const t = await spawnTemplate(cmd!, args, { at, exactTids: Boolean(o.exactTids), compact: Boolean(o.compact), sharedFds: Boolean(o.sharedFds), timeoutMs, stdio: 'inherit', ...sched });
      if (o.serve) {
        // the program mapped the mailbox as it loaded: once it is frozen the name can go
        if (mailbox) t.frozenState().then(() => mailbox.unlink(), () => {});
        try {
          process.exitCode = await runServe(t, at, Boolean(o.json), t0, command, Boolean(o.exactTids), mailbox);
        } finally {
          await t.close();
          mailbox?.close();
        }
        return;
      }
      try {
        process.exitCode = await runClones(t, { clones: n, json: Boolean(o.json), timeoutMs, compact: Boolean(o.compact), t0, command, exactTids: Boolean(o.exactTids) });
      } finally {
        await t.close();
      }
    });
}
