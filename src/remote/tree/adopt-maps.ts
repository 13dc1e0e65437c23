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
  /** C's mappings the copy already has from X: the same mapping, or a piece of a larger one of the same object (`cut`) */
  kept: FullMapping[];
  /**
   * C's mappings kept as a piece of a larger private mapping of the copy, of
   * the same object at the same offset: C split what it inherited (mprotect,
   * MAP_FIXED over part, munmap of part), the copy is cut the same way (the
   * rest of the larger mapping unmapped, the piece given C's protection),
   * and the piece's pages stay shared copy-on-write with X where C's are.
   */
  cut: FullMapping[];
  /** C's mappings to make in the copy */
  make: FullMapping[];
  /** ranges of the copy to unmap (its own mappings C lacks, adjacent ones merged) */
  unmap: { start: bigint; end: bigint }[];
}

/** The copy's mapping `y` holds `m` as a piece: both private, the same object (file, or anonymous memory of the same name) at the same offset. */
function holdsPiece(y: FullMapping, m: FullMapping): boolean {
  if (y.start > m.start || y.end < m.end || isSpecial(y) || isShared(y) || isShared(m)) return false;
  if (y.dev !== m.dev || y.inode !== m.inode || y.path !== m.path || m.path === '[stack]') return false; // a stack grows down: only as it is
  return m.inode === 0 || m.offset - y.offset === m.start - y.start;
}

export function planMaps(source: FullMapping[], copy: FullMapping[]): MapPlan {
  const copyKeys = new Set(copy.map(key));
  const sourceKeys = new Set(source.map(key));
  const kept: FullMapping[] = [];
  const cut: FullMapping[] = [];
  const make: FullMapping[] = [];
  /** per mapping of the copy cut into pieces: the pieces kept */
  const pieces = new Map<FullMapping, FullMapping[]>();
  const sortedCopy = [...copy].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  for (const m of source) {
    if (isSpecial(m)) continue;
    if (copyKeys.has(key(m))) {
      kept.push(m);
      continue;
    }
    const y = containing(sortedCopy, m.start);
    if (y && !sourceKeys.has(key(y)) && holdsPiece(y, m)) {
      kept.push(m);
      cut.push(m);
      pieces.set(y, [...(pieces.get(y) ?? []), m]);
    } else make.push(m);
  }
  const unmap: { start: bigint; end: bigint }[] = [];
  const drop = (start: bigint, end: bigint) => {
    if (start >= end) return;
    const last = unmap[unmap.length - 1];
    if (last && last.end === start) last.end = end;
    else unmap.push({ start, end });
  };
  for (const m of sortedCopy) {
    if (isSpecial(m) || sourceKeys.has(key(m))) continue;
    let at = m.start;
    for (const p of pieces.get(m) ?? []) {
      drop(at, p.start);
      at = p.end;
    }
    drop(at, m.end);
  }
  return { kept, cut, make, unmap };
}

/** The mapping of `sorted` (by start) that holds address `at`. */
function containing(sorted: FullMapping[], at: bigint): FullMapping | undefined {
  let lo = 0;
  let hi = sorted.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const m = sorted[mid]!;
    if (at < m.start) hi = mid - 1;
    else if (at >= m.end) lo = mid + 1;
    else return m;
  }
  return undefined;
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
