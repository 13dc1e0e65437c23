// Finds processes left behind by a scenario run: every run is tagged with a
// unique FORKALL_SCENARIO_TAG in its environment, inherited by its clones.
import { readdirSync, readFileSync } from 'node:fs';
import { statFields } from '../../src/proc/tasks.js';

export function processesTagged(tag: string): number[] {
  const needle = `FORKALL_SCENARIO_TAG=${tag}`;
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const env = readFileSync(`/proc/${entry}/environ`, 'latin1');
      if (env.split('\0').includes(needle)) found.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return found;
}

/**
 * Waits for tagged processes to disappear; returns those still there after a
 * generous grace (a loaded machine can take seconds to finish an exit; a run
 * that leaves nothing behind returns at once).
 */
export async function strayProcesses(tag: string, graceMs = 30_000): Promise<number[]> {
  const deadline = Date.now() + graceMs;
  for (;;) {
    const left = processesTagged(tag);
    if (left.length === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Zombie children of this test process (a zombie's environ is empty, so tags cannot find it):
 * a clone made a sibling of the scenario (CLONE_PARENT) that nobody reaps would show here. */
export function zombieChildren(): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      const f = statFields(stat);
      if (f[0] === 'Z' && Number(f[1]) === process.pid) found.push(Number(entry));
    } catch {
      // gone
    }
  }
  return found;
}
