// What a CLI user can do when the agent cannot freeze a program. The engine's
// message is written for C callers (forkall_options.signal, skip_tids); a
// `forkall run` user needs a command instead.
const BLOCKS = /thread (\d+) \(([^)]*)\) did not park within (\d+) ms: it blocks the parking signal (\d+)/;

export function adviseAgentFailure(message: string, command: string[]): string {
  const m = BLOCKS.exec(message);
  if (!m) return message;
  const [, tid, name, ms, sig] = m;
  const shown = command.map((a) => (/^[\w./=:,+-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
  return (
    `the agent cannot freeze this program: its thread ${tid} (${name}) keeps signal ${sig} blocked ` +
    `(node and some runtimes block every signal in a thread), so it did not park within ${ms} ms; the program was left running as it was.\n` +
    `Clone it from outside instead (the remote engine stops every thread with ptrace for a few ms; no preload):\n` +
    `  ${shown} &  forkall clone -p $!\n` +
    `(forkall clone -p PID --stopped gives a held, stopped copy; --exact-tids keeps the TIDs)`
  );
}
