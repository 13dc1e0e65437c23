// What a copy made by X cannot become: it starts with X's credentials and can
// only lose privilege, so C must have no more than X may give (adopt-creds.ts:
// a setuid or setcap member is refused; one that dropped to another user is
// not), the same LSM label, and no seccomp filter beyond X's (a filter cannot
// be read back and installed again).
import { readFileSync } from 'node:fs';
import { RemoteError } from '../errors.js';
import { credsGap, readCreds } from './adopt-creds.js';

/** One line of /proc/PID/status (statusField's pattern would run into the next line when a value is empty, as Groups often is). */
export function statusValue(pid: number, name: string): string {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(name + ':'));
  return line ? line.slice(name.length + 1).trim() : '';
}

/** Refuses a C the copy cannot become: more privilege than X, or a seccomp filter of its own. */
export function refuseAdoption(src: number, parent: number): void {
  const gap = credsGap(readCreds(src), readCreds(parent));
  if (gap)
    throw new RemoteError(`PID ${src} has other credentials than its parent's copy ${parent} (${gap}; a setuid or setcap program): its copy, made by the parent's copy, cannot be given them`, 'not-supported');
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
    const a = statusValue(src, name);
    const b = statusValue(parent, name);
    if (a !== b) throw new RemoteError(`PID ${src} is under a seccomp filter its parent's copy ${parent} lacks (${name}: ${a} vs ${b}): a filter cannot be read back and installed again`, 'not-supported');
  }
}

