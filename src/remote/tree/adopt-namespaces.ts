// Namespaces and cgroup of C given to its copy, which starts in X's. The
// copy joins C's mount, UTS, IPC, network and cgroup namespaces with setns
// (it is one thread, with its own fs struct, as setns requires) and C's
// cgroup (v2) is joined from outside. A copy cannot change its PID, user or
// time namespace: a C in another one than X is refused.
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { RemoteError } from '../errors.js';
import { NR_ADOPT, type CopyCalls } from './adopt-calls.js';
import type { ExactTreeNamespaces } from './adopt-types.js';

const JOINABLE: Record<string, number> = { mnt: 0x00020000, uts: 0x04000000, ipc: 0x08000000, net: 0x40000000, cgroup: 0x02000000 };
const FIXED = ['user', 'pid', 'time'];
const O_RDONLY_CLOEXEC = 0o2000000;
const AT_FDCWD = -100;
const NR_setns = 308;

const nsOf = (pid: number, ns: string): string | undefined => {
  try {
    return readlinkSync(`/proc/${pid}/ns/${ns}`);
  } catch {
    return undefined; // not configured in this kernel
  }
};

/**
 * `exact`: the copies are in the clone tree's own PID and mount namespaces,
 * which stand for the root's (`exact.pid`, `exact.mnt`): a C in the root's is
 * in the tree's; a C in another mount namespace is refused (its /proc would
 * not be the tree's).
 */
export function adoptNamespaces(calls: CopyCalls, cpid: number, src: number, exact?: ExactTreeNamespaces): number {
  if (exact) {
    if (nsOf(src, 'mnt') !== exact.mnt)
      throw new RemoteError(`PID ${src} is in another mount namespace than the root of its tree (${nsOf(src, 'mnt')} vs ${exact.mnt}): with --exact-tids the clone tree has one mount namespace, with the /proc of its PID namespace; clone without --exact-tids`, 'not-supported');
    if (nsOf(src, 'pid') !== exact.pid)
      throw new RemoteError(`PID ${src} is in another PID namespace than the root of its tree (${nsOf(src, 'pid')} vs ${exact.pid}): its copy cannot be made there`, 'not-supported');
  }
  const same = (ns: string) => (exact && (ns === 'pid' || ns === 'mnt') ? true : nsOf(src, ns) === nsOf(cpid, ns));
  for (const ns of FIXED)
    if (!same(ns))
      throw new RemoteError(`PID ${src} is in another ${ns} namespace than its parent's copy ${cpid} (${nsOf(src, ns)} vs ${nsOf(cpid, ns)}): a process cannot move its own ${ns} namespace`, 'not-supported');
  let joined = 0;
  for (const [ns, flag] of Object.entries(JOINABLE)) {
    if (same(ns)) continue;
    const fd = calls.call(`open of /proc/${src}/ns/${ns}`, NR_ADOPT.openat, [AT_FDCWD, calls.str(`/proc/${src}/ns/${ns}`), O_RDONLY_CLOEXEC, 0]);
    try {
      calls.call(`setns into the ${ns} namespace of PID ${src}`, NR_setns, [fd, flag]);
    } finally {
      calls.try(NR_ADOPT.close, [fd]);
    }
    joined++;
  }
  const want = readFileSync(`/proc/${src}/cgroup`, 'utf8');
  if (want !== readFileSync(`/proc/${cpid}/cgroup`, 'utf8')) {
    const v2 = /^0::(.*)$/m.exec(want)?.[1];
    if (!v2 || want.trim().split('\n').length > 1) throw new RemoteError(`PID ${src} is in other cgroups than its parent's copy ${cpid} (cgroup v1 hierarchies are not joined)`, 'not-supported');
    try {
      writeFileSync(`/sys/fs/cgroup${v2}/cgroup.procs`, `${cpid}\n`);
    } catch (e) {
      throw new RemoteError(`PID ${src}: its copy ${cpid} cannot join its cgroup ${v2}: ${e instanceof Error ? e.message : String(e)}`, 'failed');
    }
  }
  return joined;
}
