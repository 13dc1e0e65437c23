// Per-process attributes of C given to its copy (X's by fork): working and
// root directory, umask, personality, no_new_privs, the process name,
// oom_score_adj; and the exit signal the copy is forked with.
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { RemoteError } from '../errors.js';
import { NR_ADOPT, type CopyCalls } from './adopt-calls.js';
import { statusValue as field } from './adopt-refusals.js';

const PR_SET_NAME = 15;
const PR_SET_NO_NEW_PRIVS = 38;

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
