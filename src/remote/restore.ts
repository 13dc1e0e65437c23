// Giving a target thread back exactly the state it was seized in. Every stop
// the engine leaves a thread in (the seize's event stop, the SIGTRAP stop
// after an injected call) is inside the kernel's get_signal(): once the
// original registers are back and the thread is let go, the kernel's own
// restart logic sees the interrupted call (orig_rax, -ERESTART* in rax) and
// restarts it, or uses its restart block, exactly as after any other stop.
import * as pt from './ptrace.js';
import type { TracedTask } from './task.js';

export function restoreThread(task: TracedTask, regs: Buffer): void {
  if (!task.detached) pt.setRegs(task.tid, regs);
}
