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
import { pidfdOpen, poll, waitid } from './libc.js';

const P_PID = 1;
const WNOHANG = 1;
const WEXITED = 4;
const WNOWAIT = 0x01000000;
const CLD_EXITED = 1;

export interface CloneExit {
  /** exit code, when this process is the clone's parent; otherwise null */
  code: number | null;
  /** the signal that killed it, when this process is the clone's parent; otherwise null */
  signal: number | null;
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
function peekExit(pid: number): CloneExit | 'not-ours' | null {
  const info = Buffer.alloc(128);
  if (waitid(P_PID, pid, info, WEXITED | WNOHANG | WNOWAIT) < 0) return 'not-ours';
  if (info.readInt32LE(16) !== pid) return null;
  const status = info.readInt32LE(24);
  return info.readInt32LE(8) === CLD_EXITED ? { code: status, signal: null } : { code: null, signal: status };
}

/** Resolves when process `pid` has ended (polling; reaps it when it is our child and nobody else does). */
export async function waitForExit(pid: number, pollMs = 5): Promise<CloneExit> {
  const pidfd = openPidfd(pid);
  try {
    for (;;) {
      const seen = peekExit(pid);
      if (seen === 'not-ours') {
        if (pidfd < 0 || ended(pidfd)) return { code: null, signal: null };
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
