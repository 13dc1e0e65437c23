// One traced task (a thread of the target or of the clone being built): what
// kind of stop it is in, and the signals that arrived while we held it, which
// are sent again before it is let go.
import * as pt from './ptrace.js';
import { tgkill } from './libc.js';
import { isEventStop, isSyscallStop, waitLeader, waitTask, type WaitResult } from './wait.js';

const ALL_SIGNALS = Buffer.alloc(8, 0xff); // the kernel never blocks SIGKILL and SIGSTOP

export class TaskGone extends Error {
  constructor(readonly tid: number, how: string) {
    super(`thread ${tid} ${how} while being traced`);
  }
}

export class TracedTask {
  /** signals intercepted in signal-delivery-stops, re-sent before detach */
  readonly held: number[] = [];
  detached = false;
  /** last seen in a syscall stop (an injected call's), not in the kernel's signal path */
  inSyscallStop = false;
  /**
   * An original thread: while it runs our calls every signal is blocked
   * (blockSignals), so none is taken, held or lost meanwhile; each stays
   * pending, with its own siginfo, until the thread has its mask back.
   */
  blockDuringCalls = false;
  /** its own signal mask, while blocked for our calls */
  savedMask?: Buffer;
  /** its signal mask as read since it was stopped (saves blockSignals a read) */
  knownMask?: Buffer;
  constructor(
    readonly tgid: number,
    readonly tid: number,
  ) {}

  /** Waits for a stop that `want` accepts; holds signals that arrive instead. */
  waitFor(want: (w: WaitResult) => boolean, resume: (sig: number) => void): WaitResult {
    for (;;) {
      const w = this.tid === this.tgid ? waitLeader(this.tid) : waitTask(this.tid);
      if (w.kind === 'exited') throw new TaskGone(this.tid, `exited (code ${w.code})`);
      if (w.kind === 'killed') throw new TaskGone(this.tid, `was killed by signal ${w.sig}`);
      if (want(w)) return w;
      if (w.event === 0) this.held.push(w.sig); // signal-delivery-stop: keep it for later
      resume(0);
    }
  }

  waitEventStop(): void {
    this.waitFor(isEventStop, (sig) => pt.cont(this.tid, sig));
    this.inSyscallStop = false;
  }

  /** After PTRACE_SYSCALL: waits for the next system-call entry or exit stop. */
  waitSyscallStop(): void {
    this.waitFor(isSyscallStop, (sig) => pt.syscall(this.tid, sig));
    this.inSyscallStop = true;
  }

  /**
   * From a syscall stop, on to a ptrace stop inside the kernel's signal path
   * (get_signal), with whatever registers were set: PTRACE_INTERRUPT makes the
   * task trap there on its way back to user mode, before any signal is taken.
   * A thread given its own registers and let go from there has its interrupted
   * call restarted by the kernel exactly as after any stop. Collect with
   * waitEventStop. Returns false when nothing is needed.
   */
  startToSignalStop(): boolean {
    if (!this.inSyscallStop) return false;
    pt.interrupt(this.tid);
    pt.cont(this.tid);
    return true;
  }

  /** Before a call of ours runs in an original thread (its registers already the call's): block every signal. */
  blockSignals(): void {
    if (!this.blockDuringCalls || this.savedMask) return;
    this.savedMask = this.knownMask ?? pt.getSigmask(this.tid);
    pt.setSigmask(this.tid, ALL_SIGNALS);
  }

  /** Gives back the mask blockSignals saved. */
  unblockSignals(): void {
    if (!this.savedMask) return;
    pt.setSigmask(this.tid, this.savedMask);
    this.savedMask = undefined;
  }

  /** Re-sends held signals (they stay pending until it runs), then detaches. */
  release(): boolean {
    if (this.detached) return true;
    for (const sig of this.held.splice(0)) tgkill(this.tgid, this.tid, sig);
    this.detached = pt.tryDetach(this.tid);
    return this.detached;
  }
}
