// Learning when a clone ends. A clone is the target's sibling: its parent is
// the target's parent. That parent (e.g. a test runner that spawned the
// target) can reap it for its real status; anyone else watches a pidfd, which
// names this very process even if its PID is reused.
//
// The caller may also have spawned the pid itself (child_process.spawn). Then
// libuv owns the reaping: if we took the zombie first, libuv would never see
// the exit and its handle would keep the event loop alive for ever. So the
// status is read without reaping (WNOWAIT), the loop gets a turn to run its
// SIGCHLD handling, and only a zombie nobody else collected is reaped here.
import { closeSync } from 'node:fs';
import { constants } from 'node:os';
import type { ProcessExit } from '../process-exit.js';
import { pidfdOpen, poll, waitid } from './libc.js';

const P_PID = 1;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const CLD_EXITED = 1;

/** The name of signal number `n` (its number as text if Node has no name for it). */
function signalName(n: number): NodeJS.Signals {
  const found = Object.entries(constants.signals).find(([, v]) => v === n);
  return (found?.[0] ?? String(n)) as NodeJS.Signals;
}

const POLLIN = 1;

/** A pidfd for `pid`, or -1 when the process is already gone. */
function openPidfd(pid: number): number {
  try {
    return pidfdOpen(pid);
  } catch {
    return -1;
  }
}

/** Whether the process behind `pidfd` has ended (a pidfd turns readable then). */
function ended(pidfd: number): boolean {
  const fds = Buffer.alloc(8);
  fds.writeInt32LE(pidfd, 0);
  fds.writeInt16LE(POLLIN, 4);
  return poll(fds, 1, 0) > 0;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The exit status of our child `pid` if it has ended (left unreaped); null while it runs. */
function peekExit(pid: number): ProcessExit | 'not-ours' | null {
  const info = Buffer.alloc(128);
  if (waitid(P_PID, pid, info, WEXITED | WNOHANG | WNOWAIT) < 0) return 'not-ours';
  if (info.readInt32LE(16) !== pid) return null;
  const status = info.readInt32LE(24);
  return info.readInt32LE(8) === CLD_EXITED ? { exitCode: status, signal: null } : { exitCode: null, signal: signalName(status) };
}

/**
 * Resolves when process `pid` has ended (polling; reaps it when it is our
 * child and nobody else does). The exit code or signal is known only when
 * this process is its parent; otherwise both are null.
 */
export async function waitForExit(pid: number, pollMs = 5): Promise<ProcessExit> {
  const pidfd = openPidfd(pid);
  try {
    for (;;) {
      const seen = peekExit(pid);
      if (seen === 'not-ours') {
        if (pidfd < 0 || ended(pidfd)) return { exitCode: null, signal: null };
      } else if (seen) {
        await sleep(pollMs); // libuv reaps its own children on this turn
        waitid(P_PID, pid, Buffer.alloc(128), WEXITED | WNOHANG); // ECHILD when it did
        return seen;
      }
      await sleep(pollMs);
    }
  } finally {
    if (pidfd >= 0) closeSync(pidfd);
  }
}
