// Putting a recreated thread back inside the call it was blocked in before it
// is let go. Its registers point at the `syscall` instruction, ready to make
// the call again; but a thread released there may not run for a while, and a
// signal sent to it meanwhile (say by another thread of the clone, released
// at the same moment) is delivered on its way back to user mode, before the
// call is made. The handler runs, the call is then made and blocks: the wakeup
// is lost (`while (!flag) pause();` never returns). In the original the
// signal interrupts the call. So each such thread is run, still traced, up to
// the entry of that call; after detach the call sees any pending signal and
// is interrupted as it would have been in the original.
import * as pt from './ptrace.js';
import { restartsCall } from './regs.js';
import type { TracedTask } from './task.js';

/** Runs each task whose captured registers restart a call to that call's entry stop. */
export function reenterCalls(tasks: TracedTask[], captured: Buffer[]): void {
  const pending = tasks.filter((_, i) => restartsCall(captured[i]!));
  for (const t of pending) pt.syscall(t.tid); // the clone was set up with TRACESYSGOOD (buildClone)
  for (const t of pending) t.waitSyscallStop();
}
