// Which pipes and sockets of a tree are held by nobody outside it: read
// before the tree is held, since it means reading every process's
// descriptors (tens of milliseconds on a busy machine).
import { readdirSync, readlinkSync } from 'node:fs';
import { linkInode, listFds } from '../../proc/fdinfo.js';
import { childrenOf, readProcMember } from './proc-member.js';

/** The root's ancestors, nearest first: an inherited pipe (a shell's, a test runner's) is most likely held there. */
function ancestors(root: number): number[] {
  const out: number[] = [];
  for (let p = root; p > 1 && out.length < 64; ) {
    const ppid = readProcMember(p)?.ppid ?? 0;
    if (ppid <= 0) break;
    out.push(ppid);
    p = ppid;
  }
  return out;
}

/**
 * Inodes (of pipes and sockets among `wanted`) held by processes outside
 * `members`: the root's ancestors first, then every other process, stopping
 * as soon as every wanted inode is found (fds that vanish are skipped).
 */
function heldOutside(root: number, members: Set<number>, wanted: Set<string>): Set<string> {
  const out = new Set<string>();
  const order = ancestors(root);
  const first = new Set(order);
  for (const e of readdirSync('/proc')) if (/^\d+$/.test(e) && !first.has(Number(e))) order.push(Number(e));
  for (const e of order) {
    if (members.has(e)) continue;
    if (out.size === wanted.size) break;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${e}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        const link = readlinkSync(`/proc/${e}/fd/${fd}`);
        if ((link.startsWith('pipe:') || link.startsWith('socket:')) && wanted.has(String(linkInode(link)))) out.add(String(linkInode(link)));
      } catch {
        // closed meanwhile
      }
    }
  }
  return out;
}

/** Every pipe and socket inode `pid` holds ("pipe:INO", "socket:INO"). */
function channelInodes(pid: number): string[] {
  try {
    return listFds(pid).flatMap((e) => (e.kind === 'pipe' || e.kind === 'socket' ? [`${e.kind}:${linkInode(e.link)}`] : []));
  } catch {
    return [];
  }
}

/**
 * Before the hold (scanning every process of the machine takes tens of
 * milliseconds): the pipes and sockets held by two or more processes of the
 * tree under `root` now, and by no process outside it. One an outside
 * process gets hold of between this scan and the hold (SCM_RIGHTS,
 * pidfd_getfd) would be missed: docs/tree.md.
 */
export function channelsInsideTree(root: number): Set<string> {
  const members = new Set<number>();
  const queue = [root];
  while (queue.length) {
    const p = queue.shift()!;
    if (members.has(p)) continue;
    members.add(p);
    queue.push(...childrenOf(p));
  }
  const held = new Map<string, Set<number>>();
  for (const p of members) for (const ino of channelInodes(p)) held.set(ino, (held.get(ino) ?? new Set()).add(p));
  // a pipe held by one process is its own; a socketpair's two ends are two inodes, each maybe held by one process
  const between = new Set([...held].filter(([k, by]) => by.size > 1 || k.startsWith('socket:')).map(([k]) => k.slice(k.indexOf(':') + 1)));
  if (!between.size) return between;
  const outside = heldOutside(root, members, between);
  return new Set([...between].filter((ino) => !outside.has(ino)));
}

