// Each thread's /proc/PID/task/TID/status, opened before the target is held
// and read once while it is held: the kernel writes the text when it is read,
// so the text is the held thread's, and the hold pays one pread per thread
// instead of an open, two reads and a close. A thread missing from the files
// (made after they were opened) or whose file cannot be read that way (it
// exited, and the TID now names another thread) is read by its path.
import { closeSync, openSync, readSync } from 'node:fs';
import { listTids, readThreadStatus, statusValue } from '../proc/tasks.js';

/** Bigger than any status text; a read that fills it is not trusted to be whole. */
const TEXT_MAX = 32768;

export class StatusFiles {
  private readonly fds = new Map<number, number>();
  private readonly buf = Buffer.alloc(TEXT_MAX);
  constructor(private readonly pid: number) {
    let tids: number[] = [];
    try {
      tids = listTids(pid);
    } catch {
      return; // gone: the seize says so
    }
    for (const tid of tids) {
      try {
        this.fds.set(tid, openSync(`/proc/${pid}/task/${tid}/status`, 'r'));
      } catch {
        // exited meanwhile
      }
    }
  }

  /** The thread's status text ('' when unreadable), as readThreadStatus gives it. */
  read(tid: number): string {
    const fd = this.fds.get(tid);
    if (fd !== undefined) {
      try {
        const n = readSync(fd, this.buf, 0, TEXT_MAX, 0);
        if (n > 0 && n < TEXT_MAX) return this.buf.toString('utf8', 0, n);
      } catch {
        // not that thread any more: by its path below
      }
    }
    return readThreadStatus(this.pid, tid);
  }

  close(): void {
    for (const fd of this.fds.values()) closeSync(fd);
    this.fds.clear();
  }
}

/**
 * The thread's blocked-signal mask (8 bytes, as PTRACE_GETSIGMASK gives it)
 * from its status text's SigBlk: the kernel prints the same `blocked` set
 * that request copies, so a held thread's mask costs no ptrace request of its
 * own. Undefined when the text has no such line (unreadable): ask ptrace.
 */
export function blockedMask(status: string | undefined): Buffer | undefined {
  const hex = status === undefined ? undefined : statusValue(status, 'SigBlk');
  if (!hex || !/^[0-9a-f]{16}$/.test(hex)) return undefined;
  const m = Buffer.alloc(8);
  m.writeBigUInt64LE(BigInt('0x' + hex), 0);
  return m;
}
