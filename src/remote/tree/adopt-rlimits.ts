// C's resource limits given to its copy with prlimit, from outside.
import { libc, lastErrno } from '../../native/libc.js';
import { RemoteError } from '../errors.js';

const RLIMIT_COUNT = 16;

const prlimit = libc.func('int prlimit(int pid, int resource, void *new_limit, void *old_limit)') as (pid: number, res: number, nw: Buffer | null, old: Buffer | null) => number;

function getLimit(pid: number, res: number): Buffer {
  const b = Buffer.alloc(16);
  if (prlimit(pid, res, null, b) < 0) throw new RemoteError(`prlimit(${pid}, ${res}) failed (errno ${lastErrno()})`, 'failed');
  return b;
}

/**
 * C's resource limits, set in the copy from outside. Called once C's memory is
 * in place (the copy's own mappings, X's, are gone by then: C's limits on
 * address space and data fit C's layout) and before its descriptors (C may
 * use numbers above X's RLIMIT_NOFILE).
 */
export function adoptRlimits(cpid: number, src: number): void {
  for (let res = 0; res < RLIMIT_COUNT; res++) {
    const want = getLimit(src, res);
    if (!want.equals(getLimit(cpid, res)) && prlimit(cpid, res, want, null) < 0)
      throw new RemoteError(`PID ${src}: resource limit ${res} cannot be given to its copy ${cpid} (errno ${lastErrno()})`, 'failed');
  }
}

