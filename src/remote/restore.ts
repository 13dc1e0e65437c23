// Giving target threads back exactly the state they were seized in. The seize
// leaves a thread in an event stop inside the kernel's get_signal(); an
// injected call leaves it in a syscall-exit stop, which is not: from there a
// thread would return to user mode without the kernel's restart logic, so its
// interrupted call would see -ERESTART* in rax. Such a thread is first run,
// with the call's registers still set, into an interrupt stop in get_signal
// (before it executes any instruction), and only there gets its own registers
// back; once let go, the kernel restarts the interrupted call (orig_rax and
// -ERESTART* in rax) or uses its restart block, exactly as after any stop.
// Should the engine die in between, the thread is either still on the call's
// registers (its return frame brings it back, return-frame.ts) or already on
// its own, inside get_signal. A thread seized in user code (orig_rax -1) has
// nothing to restart and gets its registers back where it is. Its signal mask,
// blocked while it ran our calls (TracedTask.blockSignals), comes back first.
import * as pt from './ptrace.js';
import { inSyscall } from './regs.js';
import type { TracedTask } from './task.js';

export function restoreThreads(tasks: TracedTask[], regsOf: (t: TracedTask) => Buffer | undefined): void {
  const todo = tasks.filter((t) => !t.detached && regsOf(t));
  const moving = todo.filter((t) => inSyscall(regsOf(t)!) && t.startToSignalStop());
  for (const t of moving) t.waitEventStop();
  for (const t of todo) {
    t.unblockSignals(); // before the registers: until then an orphaned thread's return frame restores both
    pt.setRegs(t.tid, regsOf(t)!);
  }
}
