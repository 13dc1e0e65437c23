// SIGINT, SIGTERM and SIGHUP while a command holds a target with the remote
// engine. The engine runs synchronously on this thread, and Node runs a
// JavaScript signal handler only between turns of the event loop: with a
// handler installed before the engine starts, a signal that arrives while a
// thread of the target is stopped, or is making an injected call, is only
// noted (libuv's C handler records it and the interrupted system call is
// restarted) and acted on once the engine has returned and the target runs
// again. Without a handler, the default action would end this process in the
// middle of the engine's work. (A SIGKILL cannot be held: the kernel detaches
// every traced thread, and the return frames the engine sets up make an
// injected call that was under way return to where the thread was.)

export const HELD_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export class HeldSignals {
  /** the first held signal that arrived, once `settle()` has let its handler run */
  received: NodeJS.Signals | undefined;
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.received ??= sig;
  };

  constructor() {
    for (const sig of HELD_SIGNALS) process.on(sig, this.onSignal);
  }

  /**
   * Lets the handlers of signals that came during synchronous work run. libuv
   * reads its signal pipe in the poll phase of the event loop; one setImmediate
   * may run before the next poll (in this turn's check phase), a second one
   * scheduled from it runs only after a poll.
   */
  async settle(): Promise<NodeJS.Signals | undefined> {
    for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
    return this.received;
  }

  /** From here on the signals take their default action again. */
  release(): void {
    for (const sig of HELD_SIGNALS) process.off(sig, this.onSignal);
  }
}
