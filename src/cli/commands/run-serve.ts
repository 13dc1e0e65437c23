// `forkall run --serve`: the template stays frozen and serves clone requests
// from `forkall clone -p` (and a snapshot request from `forkall snapshot -p`)
// until Ctrl-C; each event is one line (or one JSON object per line). A
// program the agent cannot freeze (a thread blocks every signal: node) is
// held stopped instead and served through the remote engine (run-held.ts).
// Ctrl-C ends the clones still alive and reports their ends.
import type { Clone, Template, Trigger } from '../../server/template.js';
import { serveTemplate, type ServeTarget } from '../../server/serve.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { adviseAgentFailure } from './run-advice.js';
import { endClones } from './run-clones.js';
import { blockedReason, blocksParkingSignal, HeldProgram } from './run-held.js';
import { counted } from '../table.js';
import type { Mailbox } from '../../explore/mailbox.js';
import { explorable } from './run-explorable.js';

export async function runServe(t: Template, at: Trigger, json: boolean, t0: number, command: string[] = [], exactTids = false, mailbox?: Mailbox): Promise<ExitCode> {
  const say = (event: Record<string, unknown>, text: string, stream: NodeJS.WriteStream = process.stdout) =>
    (json ? process.stdout : stream).write((json ? JSON.stringify(event) : text) + '\n');
  const pid = t.process.pid!;
  const live = new Set<Clone>();
  let held: HeldProgram | undefined;
  const hold = (e: unknown): number => {
    held ??= HeldProgram.hold(t, exactTids);
    say(
      { event: 'held', templatePid: pid, reason: blockedReason(e) },
      `forkall: the agent cannot freeze ${command[0] ?? pid} (${blockedReason(e)}); holding it stopped instead: each clone is made from outside with ptrace (the remote engine)`,
      process.stderr,
    );
    return held.threads;
  };
  const explore = mailbox && explorable(t, mailbox, () => Boolean(held));
  const target: ServeTarget = {
    process: t.process,
    get pid() {
      return t.pid || pid;
    },
    get threads() {
      return held?.threads ?? t.threads;
    },
    get isFrozen() {
      return Boolean(held) || t.isFrozen;
    },
    requestSnapshot: async () => {
      if (held) return held.threads;
      try {
        return await t.requestSnapshot();
      } catch (e) {
        if (!blocksParkingSignal(e)) throw e;
        return hold(e);
      }
    },
    clone: async () => {
      if (explore?.busy) throw new Error(`template ${pid} is being explored (forkall explore -p ${pid}): its clones would run under the scheduler; ask again when that ends`);
      const c = await (held ?? t).clone();
      live.add(c);
      void c.exited.then(() => live.delete(c));
      return c;
    },
    ...(explore ? { explore: explore.explore } : {}),
  };
  t.onNotCopied = (r) => say({ event: 'notCopied', pid: r.pid, objects: r.objects }, r.objects.map((x) => `clone ${r.pid}: fd ${x.fd} ${x.kind} ${x.effect}: ${x.reason}`).join('\n'));
  let announced = false;
  const frozen = (threads: number) => {
    if (announced) return;
    announced = true;
    const snapshotMs = Date.now() - t0;
    say(
      { event: 'frozen', templatePid: pid, threads, snapshotMs, via: held ? 'ptrace' : 'agent' },
      `template ${pid} frozen after ${snapshotMs} ms with ${counted(threads, 'thread')}${held ? ' (held by ptrace)' : ''}; clone it with: forkall clone -p ${pid}`,
    );
  };
  const server = await serveTemplate(target, {
    frozen,
    cloned: (c, threads) => say({ event: 'cloned', pid: c, threads }, `clone ${c} started (${counted(threads, 'thread')})`),
    exited: (c, exitCode, signal) => say({ event: 'exited', pid: c, exitCode, signal }, `clone ${c} ended (${signal ?? `exit ${exitCode}`})`),
  });
  say(
    { event: 'serving', templatePid: pid, socket: server.path },
    `serving template ${pid} on ${server.path}` + (at === 'request' ? `; freeze it with: forkall snapshot -p ${pid}` : '') + '; Ctrl-C ends it',
  );
  let code: ExitCode = EXIT.OK;
  let onStop = () => {};
  let onExit = (_c: number | null, _s: NodeJS.Signals | null) => {};
  const ended = new Promise<void>((resolve) => {
    onStop = () => resolve();
    onExit = (c, sig) => {
      process.stderr.write(`forkall: template ${pid} ended (${sig ?? `exit ${c}`})\n`);
      code = EXIT.VERIFY_FAILED;
      resolve();
    };
  });
  process.once('SIGINT', onStop).once('SIGTERM', onStop);
  t.process.once('exit', onExit);
  if (at !== 'request')
    // the trigger fires on its own; a program the agent cannot freeze ends the run with advice
    t.frozenState().then(frozen, (e: Error) => {
      if (blocksParkingSignal(e)) return frozen(hold(e));
      process.stderr.write(`forkall: ${adviseAgentFailure(e.message, command)}\n`);
      code = EXIT.VERIFY_FAILED;
      onStop();
    });
  await ended;
  process.off('SIGINT', onStop).off('SIGTERM', onStop);
  t.process.off('exit', onExit);
  await server.close();
  if (live.size) await endClones(live, true);
  held?.close();
  return code;
}
