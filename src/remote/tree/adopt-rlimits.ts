// C's resource limits given to its copy with prlimit, from outside. Both C's
// and the copy's are read from /proc/PID/limits: prlimit on a process of
// another user needs CAP_SYS_RESOURCE (which a container may not grant), the
// file does not. A limit the engine may not set from outside for that reason
// (a tree running as another user) is set by the copy itself, with a
// setrlimit injected into it: a process may lower its own limits and raise a
// soft one up to its hard one, which is all C can have done.
import { readFileSync } from 'node:fs';
import { libc, lastErrno } from '../../native/libc.js';
import { RemoteError } from '../errors.js';
import { NR_ADOPT, type CopyCalls } from './adopt-calls.js';

const EPERM = 1;

const RLIMIT_COUNT = 16;

const prlimit = libc.func('int prlimit(int pid, int resource, void *new_limit, void *old_limit)') as (pid: number, res: number, nw: Buffer | null, old: Buffer | null) => number;

const RLIM_INFINITY = 0xffffffffffffffffn;

/** Every limit of `pid` (16 bytes each: soft, hard) from /proc/PID/limits, whose rows are in resource order. */
function readLimits(pid: number): Buffer[] {
  const rows = readFileSync(`/proc/${pid}/limits`, 'utf8').split('\n').slice(1).filter((l) => l.trim());
  if (rows.length < RLIMIT_COUNT) throw new RemoteError(`/proc/${pid}/limits lists ${rows.length} limits, not ${RLIMIT_COUNT}`, 'failed');
  return rows.slice(0, RLIMIT_COUNT).map((row) => {
    const [, soft, hard] = row.trim().split(/\s{2,}/);
    const b = Buffer.alloc(16);
    b.writeBigUInt64LE(soft === 'unlimited' ? RLIM_INFINITY : BigInt(soft!), 0);
    b.writeBigUInt64LE(hard === 'unlimited' ? RLIM_INFINITY : BigInt(hard!), 8);
    return b;
  });
}

/**
 * C's resource limits, set in the copy from outside. Called once C's memory is
 * in place (the copy's own mappings, X's, are gone by then: C's limits on
 * address space and data fit C's layout) and before its descriptors (C may
 * use numbers above X's RLIMIT_NOFILE).
 */
export function adoptRlimits(calls: CopyCalls, cpid: number, src: number): void {
  const limits = readLimits(src);
  const have = readLimits(cpid);
  for (let res = 0; res < RLIMIT_COUNT; res++) {
    const want = limits[res]!;
    if (want.equals(have[res]!) || prlimit(cpid, res, want, null) === 0) continue;
    const errno = lastErrno();
    if (errno !== EPERM) throw new RemoteError(`PID ${src}: resource limit ${res} cannot be given to its copy ${cpid} (errno ${errno})`, 'failed');
    calls.call(`setrlimit(${res}) (C's limit, PID ${src})`, NR_ADOPT.setrlimit, [res, calls.arg(want)]);
  }
}

