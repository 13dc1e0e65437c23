// Readers of /proc/<pid>/task/<tid>/*: what each thread of a process is doing.
import { readdirSync } from 'node:fs';
import { syscallName } from './syscalls.js';
import { readProcText } from './read-text.js';

export interface ThreadInfo {
  tid: number;
  name: string;
  state: string;
  /** the system call it is in, 'running', or '' when unknown */
  syscall: string;
  wchan: string;
  cpus: string;
  policy: string;
  nice: number;
}

const STATES: Record<string, string> = {
  R: 'running', S: 'sleeping', D: 'disk sleep', T: 'stopped', t: 'tracing stop', Z: 'zombie', X: 'dead', I: 'idle',
};
const POLICIES = ['SCHED_OTHER', 'SCHED_FIFO', 'SCHED_RR', 'SCHED_BATCH', 'SCHED_ISO', 'SCHED_IDLE', 'SCHED_DEADLINE'];

function read(path: string): string {
  try {
    return readProcText(path);
  } catch {
    return '';
  }
}

export function listTids(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`)
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .sort((a, b) => a - b);
}

/** One field of /proc/<pid>/status (or of a thread's, with `tid`); undefined when unreadable. */
export function statusField(pid: number, name: string, tid?: number): string | undefined {
  const path = tid === undefined ? `/proc/${pid}/status` : `/proc/${pid}/task/${tid}/status`;
  return new RegExp(`^${name}:[ \\t]*(.*)$`, 'm').exec(read(path))?.[1]?.trim();
}

/** The text of /proc/<pid>/task/<tid>/status ('' when unreadable): read once, then picked with statusValue. */
export const readThreadStatus = (pid: number, tid: number): string => read(`/proc/${pid}/task/${tid}/status`);

/** One field of a status text read by readThreadStatus; undefined when absent. */
export function statusValue(text: string, name: string): string | undefined {
  const at = text.startsWith(`${name}:`) ? 0 : text.indexOf(`\n${name}:`) + 1;
  if (at === 0 && !text.startsWith(`${name}:`)) return undefined;
  const from = at + name.length + 1;
  const end = text.indexOf('\n', from);
  return text.slice(from, end < 0 ? undefined : end).trim();
}

/** Fields of /proc/.../stat after the command name (which may hold spaces and parentheses). */
export function statFields(text: string): string[] {
  const close = text.lastIndexOf(')');
  return close < 0 ? [] : text.slice(close + 2).trim().split(' ');
}

export function readThread(pid: number, tid: number): ThreadInfo | undefined {
  const base = `/proc/${pid}/task/${tid}`;
  const stat = read(`${base}/stat`);
  if (!stat) return undefined; // exited meanwhile
  const f = statFields(stat); // f[0] = state (field 3)
  const status = read(`${base}/status`);
  const sc = read(`${base}/syscall`).trim();
  let syscall = '';
  if (sc.startsWith('running')) syscall = 'running';
  else if (sc && /^-?\d+/.test(sc)) syscall = Number(sc.split(' ')[0]) < 0 ? 'none' : syscallName(Number(sc.split(' ')[0]));
  const wchan = read(`${base}/wchan`).trim();
  return {
    tid,
    name: read(`${base}/comm`).trim(),
    state: STATES[f[0] ?? ''] ?? f[0] ?? '?',
    syscall,
    wchan: wchan === '0' ? '' : wchan,
    cpus: /Cpus_allowed_list:\s*(\S+)/.exec(status)?.[1] ?? '?',
    policy: POLICIES[Number(f[38])] ?? `policy ${f[38]}`,
    nice: Number(f[16]),
  };
}

export function readThreads(pid: number): ThreadInfo[] {
  return listTids(pid).flatMap((tid) => readThread(pid, tid) ?? []);
}
