// `forkall clone --wait`: wait for each clone and say how it ended.
import { readFileSync } from 'node:fs';
import { constants } from 'node:os';
import { statFields } from '../../proc/tasks.js';
import { waitForExit } from '../../remote/wait-exit.js';

/** A clone's parent (the target's parent: the clone is its sibling), read while it runs. */
function parentOf(pid: number): number | undefined {
  try {
    return Number(statFields(readFileSync(`/proc/${pid}/stat`, 'latin1'))[1]);
  } catch {
    return undefined;
  }
}

const signalName = (n: number) => Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? `signal ${n}`;

/**
 * Waits for each clone and says how it ended. Only a clone's parent learns its
 * exit status, and a clone's parent is never this command (it is the target's
 * parent, or the served template): then the line names who has it.
 */
export async function waitAndReport(pids: number[], json: boolean, holder: (parent: number | undefined) => string): Promise<void> {
  const parents = new Map(pids.map((p) => [p, parentOf(p)]));
  for (const pid of pids) {
    const e = await waitForExit(pid, 50);
    if (json) continue;
    const how =
      e.code !== null ? `exit ${e.code}` : e.signal !== null ? `killed by ${signalName(e.signal)}` : `its exit status went to ${holder(parents.get(pid))}`;
    process.stdout.write(`clone ${pid} ended (${how})\n`);
  }
}
