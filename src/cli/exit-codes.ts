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
  /** The target cannot be used: a zombie, a kernel thread, or forkall itself. */
  BAD_TARGET: 5,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
