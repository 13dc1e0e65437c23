// `forkall run --serve`: the template stays frozen and serves clone requests
// from `forkall clone -p` (and a snapshot request from `forkall snapshot -p`)
// until Ctrl-C; each event is one line (or one JSON object per line).
import type { Template, Trigger } from '../../server/template.js';
import { serveTemplate } from '../../server/serve.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { adviseAgentFailure } from './run-advice.js';

export async function runServe(t: Template, at: Trigger, json: boolean, t0: number, command: string[] = []): Promise<ExitCode> {
  const say = (event: Record<string, unknown>, text: string) =>
    process.stdout.write(json ? JSON.stringify(event) + '\n' : text + '\n');
  const pid = t.process.pid!;
  t.onNotCopied = (r) => say({ event: 'notCopied', pid: r.pid, objects: r.objects }, r.objects.map((x) => `clone ${r.pid}: ${x}`).join('\n'));
  let announced = false;
  const frozen = (threads: number) => {
    if (announced) return;
    announced = true;
    const snapshotMs = Date.now() - t0;
    say({ event: 'frozen', templatePid: pid, threads, snapshotMs }, `template ${pid} frozen after ${snapshotMs} ms with ${threads} threads; clone it with: forkall clone -p ${pid}`);
  };
  const server = await serveTemplate(t, {
    frozen,
    cloned: (c, threads) => say({ event: 'cloned', pid: c, threads }, `clone ${c} started (${threads} threads)`),
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
      process.stderr.write(`forkall: ${adviseAgentFailure(e.message, command)}\n`);
      code = EXIT.VERIFY_FAILED;
      onStop();
    });
  await ended;
  process.off('SIGINT', onStop).off('SIGTERM', onStop);
  t.process.off('exit', onExit);
  await server.close();
  return code;
}
