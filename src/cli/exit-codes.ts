// Exit codes of the forkall command. Documented in docs/cli.md; keep both in step.
export const EXIT = {
  OK: 0,
  /** The command ran but what it checked did not verify (demo: a clone differed). */
  VERIFY_FAILED: 1,
  /** Bad flags or arguments. */
  USAGE: 2,
  /** A native program or library is missing or failed to run. */
  NATIVE: 3,
} as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
