// Turns the copy's address space (X's, by fork) into C's: C's mappings the
// copy lacks are made (files from /proc/C/map_files, which also opens deleted
// files and shared anonymous memory, so that the copy shares those objects
// with C exactly as a fork of C would; the path when map_files is refused),
// the copy's own ones unmapped (a piece C kept of a larger one is cut out of
// it and given C's protection, its pages still shared with X), the vdso
// group moved to C's address with
// mremap (same kernel, same image), and then only the pages that differ are
// copied (adopt-pages.ts, page-copy.ts): those C' cannot copy itself at once,
// the bulk by C' itself, in a call left running that the caller collects
// (PageCopy.finish) before it asks anything else of C'. Must be followed by
// adoptFds, which closes the descriptors of the files it opened.
import { RemoteError } from '../errors.js';
import type { ProcessMemory } from '../memory.js';
import { NR_ADOPT, TRAMPOLINE_BYTES, type CopyCalls } from './adopt-calls.js';
import { freeGap, isFileBacked, isShared, planMaps, readFullMaps, vdsoGroup, type FullMapping } from './adopt-maps.js';
import { coalesce, Pagemap, planPages, type Run } from './adopt-pages.js';
import { PageCopy } from './page-copy.js';

const MAP = { SHARED: 0x01, PRIVATE: 0x02, FIXED: 0x10, ANONYMOUS: 0x20, GROWSDOWN: 0x100 } as const;
const MREMAP_MAYMOVE_FIXED = 1 | 2;
const O_RDONLY = 0;
const O_RDWR = 2;
const O_CLOEXEC = 0o2000000;
const AT_FDCWD = -100;
const MADV_DONTNEED = 4;

export interface MemoryStats {
  sourcePages: number;
  pagesCopied: number;
  pagesDropped: number;
  mappingsKept: number;
  /** of those, pieces of a larger mapping of the copy (adopt-maps.ts, `cut`) */
  mappingsCut: number;
  mappingsMade: number;
  /** pagemap reads (both processes, in windows: adopt-pages.ts) */
  pagemapReads: number;
  /** microseconds: the layout (unmap, map, vdso), pagemaps read and compared, pages dropped, pages written from here (page-copy.ts) */
  memoryUs: { layout: number; compare: number; drop: number; copy: number };
}

const hex = (v: bigint) => v.toString(16);
const prot = (perms: string) => (perms[0] === 'r' ? 1 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 4 : 0);
const pageCount = (runs: Run[]) => runs.reduce((n, r) => n + Number((r.end - r.start) / 4096n), 0);

/** Opens (in the copy) the file behind C's mapping `m`; one descriptor per file and mode. */
function openBacking(calls: CopyCalls, cpid: number, src: number, m: FullMapping, cache: Map<string, bigint>): bigint {
  // a shared mapping's file is opened read-write when it can be, so that the copy may
  // mprotect it writable later as C may (a read-only open clears VM_MAYWRITE)
  const modes = isShared(m) ? [O_RDWR, O_RDONLY] : [O_RDONLY];
  const k = `${m.dev} ${m.inode} ${modes[0]}`;
  const have = cache.get(k);
  if (have !== undefined) return have;
  let fd = -1n;
  for (const mode of modes) {
    if (fd >= 0n || (mode === O_RDONLY && m.perms[1] === 'w' && isShared(m))) break;
    fd = calls.try(NR_ADOPT.openat, [AT_FDCWD, calls.str(`/proc/${src}/map_files/${hex(m.start)}-${hex(m.end)}`), mode | O_CLOEXEC, 0]);
    if (fd < 0n && m.path.startsWith('/') && !m.path.endsWith(' (deleted)')) fd = calls.try(NR_ADOPT.openat, [AT_FDCWD, calls.str(m.path), mode | O_CLOEXEC, 0]);
  }
  if (fd < 0n)
    throw new RemoteError(`PID ${src}: the copy ${cpid} cannot open the file of mapping ${hex(m.start)}-${hex(m.end)} ${m.path} (errno ${-fd}; /proc/${src}/map_files needs CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE in the parent's copy)`, 'failed');
  cache.set(k, fd);
  return fd;
}

function makeMapping(calls: CopyCalls, cpid: number, src: number, m: FullMapping, cache: Map<string, bigint>): void {
  const len = m.end - m.start;
  const what = `mmap of C's mapping ${hex(m.start)}-${hex(m.end)} ${m.perms} ${m.path} (PID ${src})`;
  if (isFileBacked(m)) {
    const fd = openBacking(calls, cpid, src, m, cache);
    calls.call(what, NR_ADOPT.mmap, [m.start, len, prot(m.perms), (isShared(m) ? MAP.SHARED : MAP.PRIVATE) | MAP.FIXED, fd, m.offset]);
  } else {
    const grows = m.path === '[stack]' ? MAP.GROWSDOWN : 0;
    calls.call(what, NR_ADOPT.mmap, [m.start, len, prot(m.perms), MAP.PRIVATE | MAP.ANONYMOUS | MAP.FIXED | grows, -1, 0]);
  }
}

/**
 * Rebuilds the copy's memory as C's; `srcMem` reads C. Leaves the copy's
 * calls running from the trampoline, and the pages C' copies itself to be
 * started and collected by the caller (`pages.start`, `pages.finish`).
 * `copyReadsSource` false: C' may not name C (a copy inside an exact-TID
 * namespace, where C's PID is its own number): every page is written from here.
 */
export function adoptMemory(calls: CopyCalls, cpid: number, src: number, srcMem: ProcessMemory, copyReadsSource = true): { stats: MemoryStats; pages: PageCopy } {
  let t = performance.now();
  const lap = () => {
    const n = performance.now();
    const us = Math.round((n - t) * 1000);
    t = n;
    return us;
  };
  const copyMaps = readFullMaps(cpid);
  const srcMaps = readFullMaps(src);
  const cg = vdsoGroup(copyMaps);
  const sg = vdsoGroup(srcMaps);
  const span = cg ? cg.end - cg.start : 0n;
  const gap = freeGap([copyMaps, srcMaps], TRAMPOLINE_BYTES + 4096n + span);
  calls.placeTrampoline(gap);
  const scratch = gap + TRAMPOLINE_BYTES + 4096n;
  const vdsoMoves = !!cg && !!sg && (cg.start !== sg.start || cg.parts.length !== sg.parts.length || cg.parts.some((p, i) => p.path !== sg.parts[i]!.path || p.start !== sg.parts[i]!.start || p.end !== sg.parts[i]!.end));
  if (cg && sg && vdsoMoves)
    for (const p of cg.parts) calls.call(`mremap of the copy's ${p.path} out of the way`, NR_ADOPT.mremap, [p.start, p.end - p.start, p.end - p.start, MREMAP_MAYMOVE_FIXED, scratch + (p.start - cg.start)]);
  const plan = planMaps(srcMaps, copyMaps);
  for (const r of plan.unmap) calls.call(`munmap of the copy's ${hex(r.start)}-${hex(r.end)}`, NR_ADOPT.munmap, [r.start, r.end - r.start]);
  for (const m of plan.cut) {
    const y = copyMaps.find((c) => c.start <= m.start && m.end <= c.end)!;
    if (y.perms !== m.perms) calls.call(`mprotect of the copy's ${hex(m.start)}-${hex(m.end)} to ${m.perms} (C's piece of ${hex(y.start)}-${hex(y.end)} ${y.perms})`, NR_ADOPT.mprotect, [m.start, m.end - m.start, prot(m.perms)]);
  }
  // the files' descriptors are left open: the descriptor step (adopt-fds.ts) closes every
  // number C does not use, in ranges, which saves a call per file
  const fds = new Map<string, bigint>();
  for (const m of plan.make) makeMapping(calls, cpid, src, m, fds);
  if (cg && sg && vdsoMoves)
    for (const p of sg.parts) {
      const mine = cg.parts.find((q) => q.path === p.path && q.end - q.start === p.end - p.start);
      if (!mine) throw new RemoteError(`PID ${src}: its ${p.path} (${p.end - p.start} bytes) has no counterpart in the copy ${cpid}; the vdso cannot be placed`, 'failed');
      calls.call(`mremap of the copy's ${p.path} to C's address`, NR_ADOPT.mremap, [scratch + (mine.start - cg.start), p.end - p.start, p.end - p.start, MREMAP_MAYMOVE_FIXED, p.start]);
    }
  else if (cg && !sg) for (const p of cg.parts) calls.call(`munmap of the copy's ${p.path} (C has none)`, NR_ADOPT.munmap, [p.start, p.end - p.start]);
  else if (!cg && sg) throw new RemoteError(`PID ${src} has a vdso and the copy ${cpid} none: it cannot be made`, 'failed');

  const stats: MemoryStats = { sourcePages: 0, pagesCopied: 0, pagesDropped: 0, mappingsKept: plan.kept.length, mappingsCut: plan.cut.length, mappingsMade: plan.make.length, pagemapReads: 0, memoryUs: { layout: lap(), compare: 0, drop: 0, copy: 0 } };
  const pages = new PageCopy(calls, cpid, src, srcMem, copyReadsSource);
  const srcPm = new Pagemap(src);
  const dstPm = new Pagemap(cpid);
  const drop: Run[] = [];
  try {
    const made = new Set(plan.make);
    for (const m of [...plan.kept, ...plan.make]) {
      if (isShared(m)) continue; // the same object as C's: nothing to copy
      const pp = planPages(m, srcPm, made.has(m) ? undefined : dstPm);
      stats.sourcePages += pp.sourcePages;
      drop.push(...pp.drop);
      pages.add(m, pp.copy);
      stats.pagesDropped += pageCount(pp.drop);
      stats.pagesCopied += pageCount(pp.copy);
    }
  } finally {
    stats.pagemapReads = srcPm.reads + dstPm.reads;
    srcPm.close();
    dstPm.close();
  }
  stats.memoryUs.compare += lap();
  // one call per run of touching pages, across neighbouring mappings (no hole between them)
  for (const r of coalesce(drop)) calls.call(`madvise(MADV_DONTNEED) of ${hex(r.start)}-${hex(r.end)} in the copy`, NR_ADOPT.madvise, [r.start, r.end - r.start, MADV_DONTNEED]);
  stats.memoryUs.drop += lap();
  pages.copyDirect();
  stats.memoryUs.copy += lap();
  return { stats, pages };
}
