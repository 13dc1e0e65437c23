// `forkall clone -p PID`: clone a running process, with all its threads, from
// outside (the remote engine: ptrace, no preload, no restart).
import type { Command } from 'commander';
import { parsePid, TargetError } from '../../proc/process.js';
import { RemoteError, type RemoteErrorCode } from '../../remote/errors.js';
import { cloneProcessSync } from '../../remote/clone-process.js';
import { askServed, isServed, ServeError } from '../../server/serve-client.js';
import { templateServedBy } from '../../server/served-controller.js';
import { waitAndReport } from './clone-wait.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { parsePositiveInt } from '../options.js';
import { counted } from '../counted.js';
import { HeldSignals } from '../held-signals.js';

/** The table library is loaded only when a table is printed (not for --json). */
const makeTable = async (head: string[]) => (await import('../table.js')).makeTable(head);

export const EXIT_FOR: Record<RemoteErrorCode, ExitCode> = {
  'bad-pid': EXIT.USAGE,
  unsupported: EXIT.USAGE,
  'needs-exact-tids': EXIT.BAD_TARGET,
  'not-supported': EXIT.BAD_TARGET,
  'no-such-process': EXIT.NO_PROCESS,
  zombie: EXIT.BAD_TARGET,
  'kernel-thread': EXIT.BAD_TARGET,
  self: EXIT.BAD_TARGET,
  traced: EXIT.TRACED,
  denied: EXIT.DENIED,
  failed: EXIT.CLONE_FAILED,
};

/**
 * A template served by `forkall run --serve` is frozen: cloning it with ptrace
 * would copy parked threads. Its agent makes the clones instead (its children,
 * reported to the forkall run that serves it).
 */
async function cloneServed(pid: number, count: number, o: Opts): Promise<boolean> {
  if (o.stopped || o.exactTids)
    throw new RemoteError(`PID ${pid} is a template served by 'forkall run --serve': --stopped and --exact-tids do not apply (start it with 'forkall run --exact-tids' instead)`, 'unsupported');
  let r;
  try {
    r = await askServed(pid, { op: 'clone', count });
  } catch (e) {
    if (e instanceof ServeError && e.stale) return false; // a socket left by a dead template: PID reused
    throw e;
  }
  if (!r.ok) throw new RemoteError(`template ${pid}: ${r.error}`, 'failed');
  const clones = r.clones ?? [];
  if (o.json) process.stdout.write(JSON.stringify({ pid, threads: r.threads, via: 'agent', clones }, null, 2) + '\n');
  else {
    const t = await makeTable(['clone pid', 'threads', 'state']);
    for (const c of clones) t.push([c.pid, c.threads, 'running']);
    process.stdout.write(`${t.toString()}\n${clones.length} clone(s) of the frozen template ${pid} (${counted(r.threads ?? 0, 'thread')}), made by its agent\n`);
  }
  if (o.wait) await waitAndReport(clones.map((c) => c.pid), Boolean(o.json), () => `the template ${pid}, whose 'forkall run --serve' prints it`);
  return true;
}

interface Opts {
  pid: string;
  count: string;
  stopped?: boolean;
  exactTids?: boolean;
  sharedFds?: boolean;
  wait?: boolean;
  json?: boolean;
  tree?: boolean;
}

export function register(program: Command): void {
  program
    .command('clone')
    .description('clone a running process by PID, with every thread, from outside (ptrace; no preload, no restart)')
    .requiredOption('-p, --pid <pid>', 'the process to clone')
    .option('-n, --count <n>', 'how many clones to make', '1')
    .option('--stopped', 'leave each clone stopped (SIGSTOP) and detached: `gdb -p` or `strace -p` sees its first instruction; `kill -CONT` starts it')
    .option('--wait', 'wait until every clone has ended before exiting')
    .option('--tree', 'clone the process and all its descendants, each with every thread, as a tree of the same shape: parents, process groups, sessions, zombies, pipes between them (docs/tree.md)')
    .option('--exact-tids', 'the clone keeps the original PID and TIDs, in a PID namespace of its own (a user namespace too when not root); with --tree, every process and thread of the tree keeps its numbers in one namespace (root only)')
    .option('--shared-fds', 'share epoll, eventfd, timerfd, signalfd, inotify and self-pipes with the original, as plain fork does (default: each clone gets private copies)')
    .option('--json', 'print {"pid","threads","heldUs","totalUs","phasesUs","warnings":[...],"clones":[{"pid","threads","ownersFixed","tids","childPid"?,"privateFds"?,"notCopied"?:[{"fd","kind","reason","effect"}]}]} as JSON')
    .addHelpText(
      'after',
      `
How it works: every thread is seized and stopped with ptrace, its state read
(registers, xstate, signal mask, robust list, rseq, signal stack, name,
affinity, scheduling), a fork is injected into one thread (the clone becomes a
sibling of the target: the target's parent reaps it), the original is given
back its exact state and detached, then each thread is recreated in the clone.
The original is stopped for a few milliseconds and is otherwise untouched;
Ctrl-C or a killed forkall never leaves it stopped, traced or changed: a
Ctrl-C, SIGTERM or SIGHUP that comes while the target is held takes effect
once it runs again (the clone is then made and reported, exit 130), and a
SIGKILL lets every thread go with its state as it was.

A template served by 'forkall run --serve' is cloned by its own agent instead
(fast, no ptrace; the clones are the template's children).

Each clone gets its own copies of the original's event objects (epoll
instances with their interest lists, eventfds, timerfds, signalfds, inotify
instances, pipes and socketpairs whose both ends the process holds), at the
same descriptor numbers, so an event loop in the clone sees only its own
events; sockets, files and pipes to other processes stay shared, as after
fork (--shared-fds shares everything). Whatever is not copied faithfully is
listed.

A Go program (its runtime signals threads by cached TIDs) and a Python program
that loaded asyncio (it finds its loop by PID) are refused unless --exact-tids
is given.

Clones get new PIDs and TIDs; with --exact-tids each keeps the original's, in a
PID namespace of its own whose init (the PID reported) exits with the clone's
status. With --tree --exact-tids the whole clone tree shares one such namespace
(its init is the root clone's parent, "namespaceInit" in --json): a pre-fork
master's clone finds its workers by the PIDs it recorded, so a graceful quit
ends the clone tree (docs/tree.md). Calls the kernel restarts with a restart block
(nanosleep, poll, timed waits) return EINTR in the clone; other blocked calls
are made again (docs/remote.md).

Examples:
  forkall clone -p 4242
  forkall clone -p 4242 -n 3 --json
  forkall clone -p $(pidof memcached) --stopped     # then: kill -CONT <clone>
  forkall clone -p 4242 --exact-tids --json
  forkall clone -p $(pgrep -o nginx) --tree --json   # the master and its workers
  forkall clone -p $(pgrep -o nginx) --tree --exact-tids   # ... keeping every PID

--wait prints how each clone ended (exit N, killed by SIGNAME), read as it ends;
the status belongs to the clone's parent (the target's parent): if that parent
reaps it first, the line names the parent instead.

Exit codes: 0 ok, 2 bad flag or -p value, 4 no such process, 5 zombie, kernel
thread, this forkall, a 'forkall run --serve' (clone its template instead),
a Go or asyncio program without --exact-tids, or a target not supported
(seccomp differing between threads or strict, CET shadow stacks), 6 already
traced, 7 ptrace denied, 8 the clone failed (the target was restored),
130 interrupted.`,
    )
    .action(async (o: Opts) => {
      // held from before the first thread is seized until the result is reported
      const signals = new HeldSignals();
      const interrupted = async () => (await signals.settle()) !== undefined;
      try {
        const pid = parsePid(o.pid);
        const count = parsePositiveInt('--count', o.count, 1000);
        // the engine runs in this process: cloning it would trace itself
        if (pid === process.pid) throw new RemoteError(`PID ${pid} is the forkall command itself`, 'self');
        const template = templateServedBy(pid);
        if (template !== undefined)
          throw new RemoteError(
            `PID ${pid} is the 'forkall run --serve' that serves template ${template}, not a program to clone: clone the template with: forkall clone -p ${template}`,
            'self',
          );
        if (o.tree) {
          const { cloneTreeCommand } = await import('./clone-tree.js'); // the tree engine and tables: only for --tree
          await cloneTreeCommand(pid, { ...o, count });
          process.exitCode = (await interrupted()) ? EXIT.INTERRUPTED : EXIT.OK;
          return;
        }
        if (isServed(pid) && (await cloneServed(pid, count, o))) {
          process.exitCode = (await interrupted()) ? EXIT.INTERRUPTED : EXIT.OK;
          return;
        }
        // the engine runs here, on this thread, synchronously: no second process to start
        const r = cloneProcessSync(pid, { count, stopped: o.stopped, exactTids: o.exactTids, privateFds: !o.sharedFds });
        if (o.json) {
          process.stdout.write(JSON.stringify(r, null, 2) + '\n');
        } else {
          for (const w of r.warnings ?? []) process.stderr.write(`forkall: warning: ${w} (see: forkall doctor -p ${pid})\n`);
          const t = await makeTable(['clone pid', 'threads', 'owners fixed', 'state']);
          for (const c of r.clones) t.push([c.pid, c.threads, c.ownersFixed, o.stopped ? 'stopped' : 'running']);
          process.stdout.write(
            `${t.toString()}\n${r.clones.length} clone(s) of process ${pid} (${counted(r.threads, 'thread')}); ` +
              `original held ${(r.heldUs / 1000).toFixed(2)} ms, total ${(r.totalUs / 1000).toFixed(2)} ms\n`,
          );
          for (const n of r.clones[0]?.notCopied ?? []) process.stdout.write(`not copied faithfully: fd ${n.fd} (${n.kind}, ${n.effect}): ${n.reason}\n`);
        }
        const wasInterrupted = await interrupted();
        signals.release(); // the target runs on its own again: Ctrl-C may end a --wait
        if (o.wait && !wasInterrupted) await waitAndReport(r.clones.map((c) => c.pid), Boolean(o.json), (parent) => (parent ? `its parent, PID ${parent}` : 'its parent'));
        process.exitCode = wasInterrupted ? EXIT.INTERRUPTED : EXIT.OK;
      } catch (e) {
        if (e instanceof ServeError) {
          process.stderr.write(`forkall: ${e.message}\n`);
          process.exitCode = EXIT.CLONE_FAILED;
          return;
        }
        if (e instanceof TargetError || e instanceof RemoteError) {
          process.stderr.write(`forkall: ${e.message}\n`);
          process.exitCode = EXIT_FOR[e.code];
          return;
        }
        throw e;
      } finally {
        signals.release();
      }
    });
}
