// The mm fields of C given to its copy with one prctl(PR_SET_MM, PR_SET_MM_MAP):
// code, data, heap (start_brk from /proc/C/stat, brk from a brk(0) injected
// into C: the exact break, not the heap mapping's page-rounded end), stack,
// argument and environment areas, the auxiliary vector, and the executable
// (/proc/C/exe) when it is another file than X's. These drive /proc (cmdline,
// environ, [heap], [stack], exe) and brk() in the copy.
import { readFileSync, statSync } from 'node:fs';
import { statFields } from '../../proc/tasks.js';
import { RemoteError } from '../errors.js';
import { NR_ADOPT, type CopyCalls, type SourceCalls } from './adopt-calls.js';

const PR_SET_MM = 35;
const PR_SET_MM_MAP = 14;
const O_RDONLY_CLOEXEC = 0o2000000;
const AT_FDCWD = -100;

/** /proc/PID/stat field numbers (1-based, as proc(5) counts them). */
const F = { startcode: 26, endcode: 27, startstack: 28, start_data: 45, end_data: 46, start_brk: 47, arg_start: 48, arg_end: 49, env_start: 50, env_end: 51 } as const;

export function statField(pid: number, field: number): bigint {
  const f = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const v = f[field - 3];
  if (v === undefined) throw new Error(`/proc/${pid}/stat has no field ${field}`);
  return BigInt(v);
}

function sameFile(a: string, b: string): boolean {
  try {
    const x = statSync(a, { bigint: true });
    const y = statSync(b, { bigint: true });
    return x.dev === y.dev && x.ino === y.ino;
  } catch {
    return false;
  }
}

/** Sets the copy's mm fields to C's. */
export function adoptMm(calls: CopyCalls, cpid: number, src: number, srcCalls: SourceCalls): void {
  const brk = srcCalls.call('brk(0)', NR_ADOPT.brk, [0]);
  const stat = statFields(readFileSync(`/proc/${src}/stat`, 'utf8'));
  const field = (n: number) => BigInt(stat[n - 3]!);
  const auxv = readFileSync(`/proc/${src}/auxv`);
  const map = Buffer.alloc(104);
  const u64 = [F.startcode, F.endcode, F.start_data, F.end_data, F.start_brk].map(field);
  u64.push(brk, field(F.startstack), field(F.arg_start), field(F.arg_end), field(F.env_start), field(F.env_end));
  u64.forEach((v, i) => map.writeBigUInt64LE(v, i * 8));
  const auxvAt = calls.arg(auxv, 512);
  map.writeBigUInt64LE(auxvAt, 88);
  map.writeUInt32LE(auxv.length, 96);
  let exeFd = -1n;
  if (!sameFile(`/proc/${src}/exe`, `/proc/${cpid}/exe`)) exeFd = calls.call(`open of /proc/${src}/exe`, NR_ADOPT.openat, [AT_FDCWD, calls.str(`/proc/${src}/exe`, 2048), O_RDONLY_CLOEXEC, 0]);
  map.writeUInt32LE(exeFd < 0n ? 0xffffffff : Number(exeFd), 100);
  try {
    const r = calls.try(NR_ADOPT.prctl, [PR_SET_MM, PR_SET_MM_MAP, calls.arg(map), map.length, 0]);
    if (r < 0n)
      throw new RemoteError(`PID ${src}: prctl(PR_SET_MM_MAP) in its copy ${cpid} failed (errno ${-r}${r === -1n ? ': the parent\'s copy lacks CAP_SYS_ADMIN/CAP_CHECKPOINT_RESTORE to change the executable' : ''})`, 'failed');
  } finally {
    if (exeFd >= 0n) calls.try(NR_ADOPT.close, [exeFd]);
  }
}
