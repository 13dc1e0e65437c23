// `forkall run` without --serve: freeze the program, make N clones and report
// as it goes - the snapshot, each clone's PID as soon as it exists, what it
// could not make private, its end when it ends - then a summary. --timeout-ms
// bounds the whole run; Ctrl-C (SIGINT/SIGTERM) ends the clones and reports
// their ends too. Lines, or JSON lines with --json.
import type { Clone, Template } from '../../server/template.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { counted, makeTable } from '../table.js';
import { adviseAgentFailure } from './run-advice.js';
import { blockedReason, blocksParkingSignal, HeldProgram, type CloneSource } from './run-held.js';

interface CloneRow {
  pid: number;
  threads: number;
  exitCode: number | null;
  signal: string | null;
  durationMs: number;
}

export interface RunClonesOptions {
  clones: number;
  json: boolean;
  timeoutMs: number;
  compact: boolean;
  /** when the program was started */
  t0: number;
  /** the program and its arguments (for advice when it cannot be frozen) */
  command: string[];
  /** a program the agent cannot freeze is held from outside and cloned with ptrace (default true) */
  remoteFallback?: boolean;
  exactTids?: boolean;
}

type Stop = 'timeout' | 'interrupted';

/** How long clones get to end after SIGTERM (Ctrl-C) before SIGKILL. */
const GRACE_MS = 3000;

export async function runClones(t: Template, o: RunClonesOptions): Promise<ExitCode> {
  const say = (event: Record<string, unknown>, text: string, stream: NodeJS.WriteStream = process.stdout) =>
    (o.json ? process.stdout : stream).write((o.json ? JSON.stringify(event) : text) + '\n');
  const live = new Set<Clone>();
  const started = new Map<number, number>();
  const rows: CloneRow[] = [];
  let stopped: Stop | undefined;
  let stop!: (why: Stop) => void;
  const stopping = new Promise<Stop>((resolve) => (stop = (why) => {
    stopped ??= why;
    resolve(stopped);
  }));
  const onInterrupt = () => stop('interrupted');
  process.once('SIGINT', onInterrupt).once('SIGTERM', onInterrupt);
  const deadline = setTimeout(() => stop('timeout'), o.timeoutMs);
  t.onNotCopied = (r) =>
    say({ event: 'notCopied', pid: r.pid, objects: r.objects }, r.objects.map((x) => `clone ${r.pid}: fd ${x.fd} ${x.kind} ${x.effect}: ${x.reason}`).join('\n'), process.stderr);

  const ended = (c: Clone) =>
    c.exited.then((r) => {
      live.delete(c);
      const row = { pid: c.pid, threads: c.threads, exitCode: r.exitCode, signal: r.signal, durationMs: Date.now() - (started.get(c.pid) ?? Date.now()) };
      rows.push(row);
      say({ event: 'exited', ...row }, `clone ${c.pid} ended (${r.signal ?? `exit ${r.exitCode}`}) after ${row.durationMs} ms`);
    });
  let snapshotMs = 0;
  let threads = 0;
  let source: CloneSource = t;
  let held: HeldProgram | undefined;
  const work = (async () => {
    try {
      threads = await t.snapshot();
    } catch (e) {
      if (!blocksParkingSignal(e) || o.remoteFallback === false || stopped) throw e;
      held = HeldProgram.hold(t, Boolean(o.exactTids));
      source = held;
      threads = held.threads;
      say(
        { event: 'held', templatePid: held.pid, reason: blockedReason(e) },
        `forkall: the agent cannot freeze ${o.command[0]} (${blockedReason(e)}); ` +
          `holding it stopped instead: each clone is made from outside with ptrace (the remote engine)`,
        process.stderr,
      );
    }
    snapshotMs = Date.now() - o.t0;
    const pid = source.pid;
    say({ event: 'frozen', templatePid: pid, threads, snapshotMs, via: held ? 'ptrace' : 'agent' }, `template ${pid} frozen after ${snapshotMs} ms with ${counted(threads, 'thread')}${held ? ' (held by ptrace)' : ''}`);
    if (o.compact && t.compactedMb === null)
      process.stderr.write('forkall: warning: the kernel refused MADV_COLLAPSE (Linux 6.1+ with THP enabled or madvise): clones are not compacted\n');
    const endings: Promise<void>[] = [];
    await Promise.all(
      Array.from({ length: o.clones }, async () => {
        const c = await source.clone();
        started.set(c.pid, Date.now());
        live.add(c);
        say({ event: 'cloned', pid: c.pid, threads: c.threads }, `clone ${c.pid} started (${counted(c.threads, 'thread')})`);
        if (stopped) c.kill('SIGKILL'); // made while stopping: it does not get to run on
        endings.push(ended(c));
      }),
    );
    await Promise.all(endings);
  })();
  work.catch(() => {}); // observed below
  const outcome = await Promise.race([work.then(() => 'done' as const, (e: Error) => e), stopping]);
  clearTimeout(deadline);
  process.off('SIGINT', onInterrupt).off('SIGTERM', onInterrupt);

  let code: ExitCode = EXIT.OK;
  if (outcome instanceof Error) {
    process.stderr.write(`forkall: ${adviseAgentFailure(outcome.message, o.command)}\n`);
    code = EXIT.VERIFY_FAILED;
  } else if (outcome === 'timeout') {
    const pids = [...live].map((c) => c.pid);
    say({ event: 'timeout', timeoutMs: o.timeoutMs, killing: pids }, `forkall: --timeout-ms ${o.timeoutMs} reached${pids.length ? `: killing clone(s) ${pids.join(', ')}` : ''}`, process.stderr);
    code = EXIT.TIMEOUT;
  } else if (outcome === 'interrupted') {
    code = EXIT.INTERRUPTED;
  }
  stopped ??= 'interrupted';
  if (live.size) await endClones(live, outcome === 'interrupted');
  held?.close();
  if (code === EXIT.OK) {
    const summary = { templatePid: source.pid, via: held ? 'ptrace' : 'agent', snapshotMs, threads, compactedMb: o.compact ? t.compactedMb : undefined, clones: rows };
    if (o.json) process.stdout.write(JSON.stringify({ event: 'done', ...summary }) + '\n');
    else {
      const table = makeTable(['clone', 'pid', 'threads', 'exit', 'duration ms']);
      rows.forEach((r, i) => table.push([i + 1, r.pid, r.threads, r.signal ?? String(r.exitCode), r.durationMs]));
      process.stdout.write(`${table.toString()}\n`);
    }
  }
  return code;
}

/** Ends the clones still alive (SIGTERM first when interrupted) and waits for their reported ends. */
export async function endClones(live: Set<Clone>, gently: boolean): Promise<void> {
  const all = [...live];
  for (const c of all) c.kill(gently ? 'SIGTERM' : 'SIGKILL');
  const allEnded = Promise.all(all.map((c) => c.exited));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((r) => (timer = setTimeout(r, GRACE_MS)));
  await Promise.race([allEnded, late]);
  for (const c of all) if (live.has(c)) c.kill('SIGKILL');
  await Promise.race([allEnded, new Promise<void>((r) => (clearTimeout(timer), (timer = setTimeout(r, GRACE_MS))))]);
  clearTimeout(timer);
}
