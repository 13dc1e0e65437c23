// What /proc tells about one process of a tree: its place (parent, process
// group, session), its state, its children (the union over its threads: a
// child belongs to the thread that forked it), and, for a zombie, the status
// its parent will collect.
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { statFields } from '../../proc/tasks.js';

export interface ProcMember {
  pid: number;
  ppid: number;
  pgid: number;
  sid: number;
  /** stat state letter: R S D T t Z X ... */
  state: string;
  /** a zombie's wait status as waitpid reports it (stat field 52) */
  exitStatus: number;
  comm: string;
}

/** undefined when the process is gone (reaped). */
export function readProcMember(pid: number): ProcMember | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const f = statFields(text); // f[0] is field 3 (state)
  const comm = text.slice(text.indexOf('(') + 1, text.lastIndexOf(')'));
  return { pid, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), state: f[0] ?? '?', exitStatus: Number(f[49] ?? 0), comm };
}

export const isZombie = (m: ProcMember): boolean => m.state === 'Z' || m.state === 'X';

/** The children of every thread of `pid`, ascending; [] when it is gone. */
export function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  for (const tid of tids) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue; // the thread exited meanwhile
    }
    for (const c of text.trim().split(/\s+/)) if (c) out.add(Number(c));
  }
  return [...out].sort((a, b) => a - b);
}

/** The namespace a process is in, as the link /proc/PID/ns/KIND reads ('' when unreadable). */
export function namespaceOf(pid: number, kind: 'pid' | 'pid_for_children' | 'user'): string {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return '';
  }
}

/** Whether a process has no_new_privs set (its copy can set it, never clear it). */
export function noNewPrivs(pid: number): boolean {
  try {
    return /^NoNewPrivs:\s*1$/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}
