// Giving target threads back exactly the state they were seized in. The seize
// leaves a thread in an event stop inside the kernel's get_signal(); an
// injected call leaves it in a syscall-exit stop, which is not: from there a
// thread would return to user mode without the kernel's restart logic, so its
// interrupted call would see -ERESTART* in rax. Each thread therefore gets its
// registers back and is then run into an interrupt stop in get_signal; once
// let go from there, the kernel restarts the interrupted call (orig_rax and
// -ERESTART* in rax) or uses its restart block, exactly as after any stop.
// A thread seized in user code (orig_rax -1) has nothing to restart and is
// let go from where it is.
import * as pt from './ptrace.js';
import { inSyscall } from './regs.js';
import type { TracedTask } from './task.js';

export function restoreThreads(tasks: TracedTask[], regsOf: (t: TracedTask) => Buffer | undefined): void {
  const moving: TracedTask[] = [];
  for (const t of tasks) {
    const regs = regsOf(t);
    if (t.detached || !regs) continue;
    pt.setRegs(t.tid, regs);
    if (inSyscall(regs) && t.startToSignalStop()) moving.push(t);
  }
  for (const t of moving) t.waitEventStop();
}
