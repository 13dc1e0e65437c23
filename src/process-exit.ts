// The one shape every API of forkall reports the end of a process in
// (a Template clone's `exited`, waitForExit), as Node's own 'exit' event
// does: an exit code or the name of the signal that killed it.

/** How a process ended: one of the two is set, or neither when the end was seen but its status could not be read (e.g. not our child). */
export interface ProcessExit {
  /** the exit code when it exited */
  exitCode: number | null;
  /** the signal that killed it */
  signal: NodeJS.Signals | null;
}
