// Learning when a clone ends. A clone is the target's sibling: its parent is
// the target's parent. That parent (e.g. a test runner that spawned the
// target) can reap it for its real status; anyone else watches a pidfd.
import { readFileSync } from 'node:fs';
import { waitpid } from './libc.js';
import { decodeStatus } from './wait.js';

const WNOHANG = 1;

export interface CloneExit {
  /** exit code, when this process is the clone's parent; otherwise null */
  code: number | null;
  signal: number | null;
}

const gone = (pid: number) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /\) [ZX] /.test(stat);
  } catch {
    return true;
  }
};

/** Resolves when process `pid` has ended (polling; reaps it when it is our child). */
export async function waitForExit(pid: number, pollMs = 5): Promise<CloneExit> {
  const st = new Int32Array(1);
  const ours = Number(/^PPid:\s*(\d+)/m.exec(safeStatus(pid))?.[1]) === process.pid;
  for (;;) {
    if (ours) {
      const r = waitpid(pid, st, WNOHANG);
      if (r === pid) {
        const w = decodeStatus(st[0]!);
        return w.kind === 'exited' ? { code: w.code, signal: null } : { code: null, signal: w.kind === 'killed' ? w.sig : null };
      }
      if (r < 0) return { code: null, signal: null };
    } else if (gone(pid)) {
      return { code: null, signal: null };
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

function safeStatus(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return '';
  }
}

