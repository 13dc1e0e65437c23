// Ending the processes a test started: SIGKILL each, then wait until each is gone.
import { waitForExit } from '../../src/remote/wait-exit.js';

export async function killAndWait(...pids: number[]): Promise<void> {
  for (const p of pids) {
    try {
      process.kill(p, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const p of pids) await waitForExit(p);
}
