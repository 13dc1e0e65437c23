// Exit codes of the forkall command. Documented in docs/cli.md; keep both in step.
export const EXIT = {
  OK: 0,
  /** The command ran but what it checked did not verify (demo: a clone differed). */
  VERIFY_FAILED: 1,
  /** Bad flags or arguments. */
  USAGE: 2,
  /** A native program or library is missing or failed to run. */
  NATIVE: 3,
  /** The target PID does not exist. */
  NO_PROCESS: 4,
  /** The target cannot be used: a zombie, a kernel thread, this forkall, or a `forkall run --serve` (clone its template). */
  BAD_TARGET: 5,
  /** The target is already traced (a debugger, strace, another forkall). */
  TRACED: 6,
  /** ptrace is not allowed on the target (permissions, Yama, not dumpable). */
  DENIED: 7,
  /** The clone could not be made; the target was given back as it was. */
  CLONE_FAILED: 8,
  /** Interrupted (SIGINT/SIGTERM) after the work was finished or abandoned safely. */
  INTERRUPTED: 130,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
