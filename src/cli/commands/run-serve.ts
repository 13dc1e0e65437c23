// `forkall run --serve`: the template stays frozen and serves clone requests
// from `forkall clone -p` (and a snapshot request from `forkall snapshot -p`)
// until Ctrl-C; each event is one line (or one JSON object per line).
import type { Template, Trigger } from '../../server/template.js';
import { serveTemplate } from '../../server/serve.js';
import { EXIT, type ExitCode } from '../exit-codes.js';
import { counted } from '../table.js';

export async function runServe(t: Template, at: Trigger, json: boolean, t0: number): Promise<ExitCode> {
  const say = (event: Record<string, unknown>, text: string) =>
    process.stdout.write(json ? JSON.stringify(event) + '\n' : text + '\n');
  const pid = t.process.pid!;
  let announced = false;
  const frozen = (threads: number) => {
    if (announced) return;
    announced = true;
    const snapshotMs = Date.now() - t0;
    say({ event: 'frozen', templatePid: pid, threads, snapshotMs }, `template ${pid} frozen after ${snapshotMs} ms with ${counted(threads, 'thread')}; clone it with: forkall clone -p ${pid}`);
  };
  const server = await serveTemplate(t, {
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
  if (at !== 'request') t.frozenState().then(frozen, () => {}); // the trigger fires on its own
  await ended;
  process.off('SIGINT', onStop).off('SIGTERM', onStop);
  t.process.off('exit', onExit);
  await server.close();
  return code;
}
