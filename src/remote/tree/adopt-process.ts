// Per-process attributes of C given to its copy (X's by fork): working and
// root directory, umask, resource limits (prlimit from outside), personality,
// no_new_privs, the process name, oom_score_adj. And what cannot be given: a
// copy runs with X's credentials, so C must have the same (a setuid or setcap
// member is refused), as must its LSM label, and a seccomp filter C has
// beyond X's cannot be re-created (refused).
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { libc, lastErrno } from '../../native/libc.js';
import { RemoteError } from '../errors.js';
import { NR_ADOPT, type CopyCalls } from './adopt-calls.js';

const PR_SET_NAME = 15;
const PR_SET_NO_NEW_PRIVS = 38;
const RLIMIT_COUNT = 16;

const prlimit = libc.func('int prlimit(int pid, int resource, void *new_limit, void *old_limit)') as (pid: number, res: number, nw: Buffer | null, old: Buffer | null) => number;

function getLimit(pid: number, res: number): Buffer {
  const b = Buffer.alloc(16);
  if (prlimit(pid, res, null, b) < 0) throw new RemoteError(`prlimit(${pid}, ${res}) failed (errno ${lastErrno()})`, 'failed');
  return b;
}

/** One line of /proc/PID/status (statusField's pattern would run into the next line when a value is empty, as Groups often is). */
function field(pid: number, name: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
  return line ? line.slice(name.length + 1).trim() : '';
}

/** Refuses a C the copy cannot become: other credentials, or a seccomp filter of its own. */
export function refuseAdoption(src: number, parent: number): void {
  for (const name of ['Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
    const a = field(src, name);
    const b = field(parent, name);
    if (a !== b)
      throw new RemoteError(`PID ${src} has other credentials than its parent's copy ${parent} (${name}: ${a} vs ${b}; a setuid or setcap program, or one that changed its user or capabilities): its copy, made by the parent's copy, cannot be given them`, 'not-supported');
  }
  const label = (pid: number) => {
    try {
      return readFileSync(`/proc/${pid}/attr/current`, 'utf8').replace(/\0/g, '').trim();
    } catch {
      return ''; // no LSM that keeps a label
    }
  };
  if (label(src) !== label(parent))
    throw new RemoteError(`PID ${src} runs under another security label than its parent's copy ${parent} (${label(src)} vs ${label(parent)}): its copy cannot be given it`, 'not-supported');
  for (const name of ['Seccomp', 'Seccomp_filters']) {
    const a = field(src, name);
    const b = field(parent, name);
    if (a !== b) throw new RemoteError(`PID ${src} is under a seccomp filter its parent's copy ${parent} lacks (${name}: ${a} vs ${b}): a filter cannot be read back and installed again`, 'not-supported');
  }
}

/** The exit signal C was forked with (sent to its parent when it dies; normally SIGCHLD). */
export function exitSignal(src: number): number {
  const stat = readFileSync(`/proc/${src}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[38 - 3]);
}

function sameInode(a: string, b: string): boolean {
  const x = statSync(a, { bigint: true });
  const y = statSync(b, { bigint: true });
  return x.dev === y.dev && x.ino === y.ino;
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

export function adoptProcess(calls: CopyCalls, cpid: number, src: number): void {
  if (!sameInode(`/proc/${src}/root`, `/proc/${cpid}/root`)) calls.call(`chroot to the root of PID ${src}`, NR_ADOPT.chroot, [calls.str(`/proc/${src}/root`)]);
  if (!sameInode(`/proc/${src}/cwd`, `/proc/${cpid}/cwd`)) calls.call(`chdir to the working directory of PID ${src}`, NR_ADOPT.chdir, [calls.str(`/proc/${src}/cwd`)]);
  const umask = field(src, 'Umask');
  if (umask && umask !== field(cpid, 'Umask')) calls.call(`umask(${umask})`, NR_ADOPT.umask, [parseInt(umask, 8)]);
  const pers = readFileSync(`/proc/${src}/personality`, 'utf8').trim();
  if (pers !== readFileSync(`/proc/${cpid}/personality`, 'utf8').trim()) calls.call(`personality(0x${pers})`, NR_ADOPT.personality, [parseInt(pers, 16)]);
  const nnp = field(src, 'NoNewPrivs');
  if (nnp !== field(cpid, 'NoNewPrivs')) {
    if (nnp !== '1') throw new RemoteError(`PID ${src} has no_new_privs off and its parent's copy ${cpid} on: it cannot be turned off`, 'not-supported');
    calls.call('prctl(PR_SET_NO_NEW_PRIVS)', NR_ADOPT.prctl, [PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0]);
  }
  const name = readFileSync(`/proc/${src}/comm`, 'utf8').replace(/\n$/, '');
  calls.call(`prctl(PR_SET_NAME, ${name})`, NR_ADOPT.prctl, [PR_SET_NAME, calls.str(name.slice(0, 15), 1536)]);
  const oom = readFileSync(`/proc/${src}/oom_score_adj`, 'utf8').trim();
  if (oom !== readFileSync(`/proc/${cpid}/oom_score_adj`, 'utf8').trim()) writeFileSync(`/proc/${cpid}/oom_score_adj`, oom);
}
