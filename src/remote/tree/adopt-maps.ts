// /proc/PID/maps with every column, and how C's mappings pair with the ones
// its copy inherited from X by fork: a pair (same start, end, permissions,
// offset, device, inode and name) is kept as fork made it, copy-on-write
// shared with X (its pages are then compared one by one); every other mapping
// of the copy is unmapped and every other mapping of C is made anew.
import { readFileSync } from 'node:fs';

export interface FullMapping {
  start: bigint;
  end: bigint;
  /** rwxp / rwxs */
  perms: string;
  offset: bigint;
  dev: string;
  inode: number;
  /** file path, [heap], [stack], [vdso], ..., or '' */
  path: string;
}

export function readFullMaps(pid: number): FullMapping[] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) (\S+) (\d+)\s*(.*)$/.exec(line);
      if (!m) throw new Error(`unexpected line in /proc/${pid}/maps: ${line}`);
      return { start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3]!, offset: BigInt('0x' + m[4]), dev: m[5]!, inode: Number(m[6]), path: m[7]! };
    });
}

const key = (m: FullMapping) => `${m.start}-${m.end} ${m.perms} ${m.offset} ${m.dev} ${m.inode} ${m.path}`;

/** The kernel's own mappings: never unmapped or mapped by us ([vsyscall] cannot move; the vdso group is moved whole). */
export const isVdsoPart = (m: FullMapping): boolean => m.path === '[vdso]' || m.path.startsWith('[vvar');
export const isSpecial = (m: FullMapping): boolean => isVdsoPart(m) || m.path === '[vsyscall]' || m.path === '[uprobes]';
export const isShared = (m: FullMapping): boolean => m.perms[3] === 's';
/** Backed by a file or a shared memory object (a MAP_SHARED anonymous mapping has an inode too). */
export const isFileBacked = (m: FullMapping): boolean => m.inode !== 0;

export interface MapPlan {
  /** C's mappings the copy already has from X (same everything) */
  kept: FullMapping[];
  /** C's mappings to make in the copy */
  make: FullMapping[];
  /** ranges of the copy to unmap (its own mappings C lacks, adjacent ones merged) */
  unmap: { start: bigint; end: bigint }[];
}

export function planMaps(source: FullMapping[], copy: FullMapping[]): MapPlan {
  const copyKeys = new Set(copy.map(key));
  const sourceKeys = new Set(source.map(key));
  const kept: FullMapping[] = [];
  const make: FullMapping[] = [];
  for (const m of source) {
    if (isSpecial(m)) continue;
    (copyKeys.has(key(m)) ? kept : make).push(m);
  }
  const unmap: { start: bigint; end: bigint }[] = [];
  for (const m of copy) {
    if (isSpecial(m) || sourceKeys.has(key(m))) continue;
    const last = unmap[unmap.length - 1];
    if (last && last.end === m.start) last.end = m.end;
    else unmap.push({ start: m.start, end: m.end });
  }
  return { kept, make, unmap };
}

/** The lowest free range of `len` bytes at or above `from` that overlaps nothing in any of the layouts (with a guard page each side). */
export function freeGap(layouts: FullMapping[][], len: bigint, from = 1n << 32n): bigint {
  const guard = 4096n;
  const used = layouts.flat().map((m) => ({ start: m.start - guard, end: m.end + guard })).sort((a, b) => (a.start < b.start ? -1 : 1));
  let at = from;
  for (const u of used) {
    if (u.end <= at) continue;
    if (u.start >= at + len) break;
    at = u.end;
  }
  if (at + len > 0x7ff000000000n) throw new Error('no free address range for the copy\'s call page');
  return at;
}

export interface VdsoGroup {
  start: bigint;
  end: bigint;
  parts: FullMapping[];
}

/** The vdso and its data pages ([vvar], [vvar_vclock]), which the kernel maps side by side. */
export function vdsoGroup(maps: FullMapping[]): VdsoGroup | undefined {
  const parts = maps.filter(isVdsoPart);
  if (!parts.length) return undefined;
  return { start: parts[0]!.start, end: parts[parts.length - 1]!.end, parts };
}
