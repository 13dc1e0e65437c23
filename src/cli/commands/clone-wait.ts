// `forkall clone --wait`: wait for each clone and say how it ended.
//
// A clone is the target's sibling, so its exit status goes to the target's
// parent, never to this command. The kernel also keeps that status in the
// zombie's /proc/PID/stat (exit_code, field 52) until the parent reaps it: the
// moment the clone's pidfd turns readable it is read from there. A parent that
// reaps at once (a shell) can take it first; the line then names that parent.
import { closeSync, readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { statFields } from '../../proc/tasks.js';
import { pidfdOpen, poll } from '../../remote/libc.js';

const POLLIN = 1;
const EXIT_CODE_FIELD = 52 - 3; // statFields starts at field 3 (state)

function statOf(pid: number): string[] | undefined {
  try {
    return statFields(readFileSync(`/proc/${pid}/stat`, 'latin1'));
  } catch {
    return undefined;
  }
}

const signalName = (n: number) => Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;

/** How a wait status reads: "exit 3", "killed by SIGTERM". */
function describe(status: number): string {
  return (status & 0x7f) === 0 ? `exit ${(status >> 8) & 0xff}` : `killed by ${signalName(status & 0x7f)}`;
}

/** Resolves when `pid` has ended, with its wait status if it could still be read. */
async function ended(pid: number): Promise<number | undefined> {
  let fd: number;
  try {
    fd = pidfdOpen(pid);
  } catch {
    return undefined; // already gone (and reaped)
  }
  try {
    const fds = Buffer.alloc(8);
    fds.writeInt32LE(fd, 0);
    fds.writeInt16LE(POLLIN, 4);
    // block in short slices, so the status is read right as it ends; signals (Ctrl-C) run in between
    while (poll(fds, 1, 100) <= 0) await new Promise((r) => setImmediate(r));
    const f = statOf(pid);
    return f && f[0] === 'Z' && f.length > EXIT_CODE_FIELD ? Number(f[EXIT_CODE_FIELD]) : undefined;
  } finally {
    closeSync(fd);
  }
}

/** Waits for each clone and prints how it ended (or, if its parent took the status first, who has it). */
export async function waitAndReport(pids: number[], json: boolean, holder: (parent: number | undefined) => string): Promise<void> {
  const parents = new Map(pids.map((p) => [p, statOf(p)?.[1]]));
  for (const pid of pids) {
    const status = await ended(pid);
    if (json) continue;
    const parent = parents.get(pid);
    const how = status !== undefined ? describe(status) : `its exit status went to ${holder(parent === undefined ? undefined : Number(parent))}`;
    process.stdout.write(`clone ${pid} ended (${how})\n`);
  }
}
