// C's descriptor table given to its copy (which has X's by fork). A number
// whose open file in the copy is already C's (kcmp KCMP_FILE: both inherited
// it from P) is kept; every other descriptor of C is taken from C itself by
// pidfd_getfd, injected into the copy, and put at its number with C's
// close-on-exec flag: the copy then shares C's open file descriptions exactly
// as a fork of C would. The copy's descriptors C lacks are closed
// (close_range over runs of numbers C does not use).
import { readdirSync, readFileSync } from 'node:fs';
import { libc, lastErrno } from '../../native/libc.js';
import { RemoteError } from '../errors.js';
import { NR_ADOPT, type CopyCalls } from './adopt-calls.js';
import { FdRelay, type RelayTarget } from './fd-relay.js';
import { closeQuietly, pidfdGetfd, pidfdOpen } from '../private/fd-syscalls.js';

const SYS_kcmp = 312;
const KCMP_FILE = 0;
const O_CLOEXEC = 0o2000000;
const F_DUPFD_CLOEXEC = 1030;
const F_SETFD = 2;
const FD_CLOEXEC = 1;

const kcmp = libc.func('long syscall(long nr, long pid1, long pid2, long type, long idx1, long idx2)') as (nr: number, p1: number, p2: number, t: number, a: number, b: number) => number;

function fdsOf(pid: number): Map<number, boolean> {
  const out = new Map<number, boolean>();
  for (const e of readdirSync(`/proc/${pid}/fd`)) {
    const fd = Number(e);
    let cloexec = false;
    try {
      const flags = /^flags:\s*([0-7]+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8'))?.[1];
      cloexec = flags !== undefined && (parseInt(flags, 8) & O_CLOEXEC) !== 0;
    } catch {
      continue; // closed meanwhile (not in a held process)
    }
    out.set(fd, cloexec);
  }
  return out;
}

/** Whether descriptor fdA of process a and fdB of b are the same open file description (kcmp). */
export function sameOpenFile(a: number, fdA: number, b: number, fdB: number): boolean {
  const r = kcmp(SYS_kcmp, a, b, KCMP_FILE, fdA, fdB);
  if (r < 0) throw new RemoteError(`kcmp of descriptor ${fdA} of PID ${a} and ${fdB} of PID ${b} failed (errno ${lastErrno()})`, 'failed');
  return r === 0;
}

/** Whether C uses a number strictly between a and b (then a range close from a to b would close it). */
function hasBetween(want: Map<number, boolean>, a: number, b: number): boolean {
  for (const fd of want.keys()) if (fd > a && fd < b) return true;
  return false;
}

export interface FdStats {
  kept: number;
  installed: number;
}

/**
 * `relay`: the copy is in the clone tree's PID namespace (exact TIDs), where
 * `src` names another process: the engine takes each descriptor from C and
 * hands it over an fd relay (fd-relay.ts); the copy's calls are the same.
 */
export function adoptFds(calls: CopyCalls, cpid: number, src: number, relay?: RelayTarget): FdStats {
  const want = fdsOf(src);
  const have = fdsOf(cpid);
  const install: number[] = [];
  let kept = 0;
  for (const [fd, cloexec] of want) {
    if (have.has(fd) && sameOpenFile(src, fd, cpid, fd)) {
      kept++;
      if (have.get(fd) !== cloexec) calls.call(`fcntl(${fd}, F_SETFD) as in PID ${src}`, NR_ADOPT.fcntl, [fd, F_SETFD, cloexec ? FD_CLOEXEC : 0]);
    } else install.push(fd);
  }
  // the copy's descriptors C lacks (X's, and the files the memory step opened), closed in ranges
  const lacking = [...have.keys()].filter((fd) => !want.has(fd)).sort((a, b) => a - b);
  for (let i = 0; i < lacking.length; ) {
    let j = i;
    while (j + 1 < lacking.length && !hasBetween(want, lacking[j]!, lacking[j + 1]!)) j++;
    calls.call(`close_range(${lacking[i]}, ${lacking[j]}) (PID ${src} has none of these descriptors)`, NR_ADOPT.close_range, [lacking[i]!, lacking[j]!, 0]);
    i = j + 1;
  }
  if (!install.length) return { kept, installed: 0 };
  // the pidfd (or the relay's socket) must sit above every number C uses, or a dup3 would replace it
  const above = Math.max(...want.keys()) + 1;
  if (relay) {
    installRelayed(calls, cpid, src, install, want, new FdRelay(relay, above));
    return { kept, installed: install.length };
  }
  const first = calls.call(`pidfd_open(${src})`, NR_ADOPT.pidfd_open, [src, 0]);
  let pidfd = first;
  if (Number(first) < above) {
    pidfd = calls.call(`fcntl(F_DUPFD_CLOEXEC) of the pidfd of ${src}`, NR_ADOPT.fcntl, [first, F_DUPFD_CLOEXEC, above]);
    calls.call('close of the first pidfd', NR_ADOPT.close, [first]);
  }
  try {
    for (const fd of install) {
      const got = calls.try(NR_ADOPT.pidfd_getfd, [pidfd, fd, 0]);
      if (got < 0n) throw new RemoteError(`PID ${src}: its descriptor ${fd} cannot be taken into its copy ${cpid} (pidfd_getfd: errno ${-got})`, 'failed');
      const cloexec = want.get(fd)!;
      if (Number(got) === fd) calls.call(`fcntl(${fd}, F_SETFD)`, NR_ADOPT.fcntl, [fd, F_SETFD, cloexec ? FD_CLOEXEC : 0]);
      else {
        calls.call(`dup3(${got}, ${fd}) as descriptor ${fd} of PID ${src}`, NR_ADOPT.dup3, [got, fd, cloexec ? O_CLOEXEC : 0]);
        calls.call(`close(${got})`, NR_ADOPT.close, [got]);
      }
    }
  } finally {
    calls.try(NR_ADOPT.close, [pidfd]);
  }
  return { kept, installed: install.length };
}

/** Puts `got` (a descriptor the copy just received) at number `fd` with C's close-on-exec flag. */
function placeAt(calls: CopyCalls, src: number, got: bigint, fd: number, cloexec: boolean): void {
  if (Number(got) === fd) calls.call(`fcntl(${fd}, F_SETFD)`, NR_ADOPT.fcntl, [fd, F_SETFD, cloexec ? FD_CLOEXEC : 0]);
  else {
    calls.call(`dup3(${got}, ${fd}) as descriptor ${fd} of PID ${src}`, NR_ADOPT.dup3, [got, fd, cloexec ? O_CLOEXEC : 0]);
    calls.call(`close(${got})`, NR_ADOPT.close, [got]);
  }
}

/** Each descriptor taken from C here (pidfd_getfd) and sent into the copy over the relay. */
function installRelayed(calls: CopyCalls, cpid: number, src: number, install: number[], want: Map<number, boolean>, relay: FdRelay): void {
  const pidfd = pidfdOpen(src);
  try {
    for (const fd of install) {
      let local: number;
      try {
        local = pidfdGetfd(pidfd, fd, src);
      } catch (e) {
        throw new RemoteError(`PID ${src}: its descriptor ${fd} cannot be taken for its copy ${cpid} (${e instanceof Error ? e.message : String(e)})`, 'failed');
      }
      try {
        placeAt(calls, src, BigInt(relay.send(local)), fd, want.get(fd)!);
      } finally {
        closeQuietly(local);
      }
    }
  } finally {
    closeQuietly(pidfd);
    relay.close();
  }
}
