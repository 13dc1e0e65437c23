// Giving a target thread back exactly the state it was seized in. After an
// injected call it sits in a syscall-exit stop; a thread that was inside a
// system call must go back through the kernel's signal path, where the
// interrupted call is restarted (or its restart block used) as after any
// stop. So: original registers, then an interrupt, and a resume that ends in
// that interrupt's stop before the final detach.
import * as pt from './ptrace.js';
import { inSyscall } from './regs.js';
import type { TracedTask } from './task.js';

export function restoreThread(task: TracedTask, regs: Buffer): void {
  if (task.detached) return;
  pt.setRegs(task.tid, regs);
  if (task.stop === 'syscall-exit' && inSyscall(regs)) {
    pt.interrupt(task.tid);
    pt.cont(task.tid);
    task.waitEventStop();
  }
}
