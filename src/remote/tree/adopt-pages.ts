// Which pages of C the copy must be given, read from /proc/PID/pagemap (one
// 64-bit entry per page: bit 63 present, 62 swapped, 61 a file page or shared
// anonymous memory, bits 0-54 the page frame number, 0 unless we are root).
// A page of a kept mapping whose frame is the one the copy holds (fork's
// copy-on-write from X, which shares it with P, whose child C is) is already
// there; any other page C has (present or swapped, and in a private file
// mapping only its anonymous copies: file pages read the same file) is copied;
// a private page the copy holds where C reads zeros or the file is dropped.
//
// The pagemaps are read in windows of at most SCAN_PAGES entries into one
// reused buffer per process, so a mapping of any size (a JVM or V8 reserving
// gigabytes it never touches) costs a bounded buffer and one read per window,
// and the runs found are joined across windows (a run never breaks at a
// window's edge).
import { closeSync, openSync, readSync } from 'node:fs';
import type { FullMapping } from './adopt-maps.js';

const PAGE = 4096n;
/** entries per pagemap read: 512 KB of entries, 256 MB of address space */
export const SCAN_PAGES = 65536;
// each entry as two 32-bit words (little-endian: low, high), compared without BigInt
const PRESENT = 0x80000000;
const SWAPPED = 0x40000000;
const FILE = 0x20000000;
const PFN_HIGH = 0x7fffff; // frame number bits 32-54

export class Pagemap {
  private readonly fd: number;
  private readonly buf = Buffer.alloc(SCAN_PAGES * 8);
  /** reads made, for the report */
  reads = 0;
  constructor(readonly pid: number) {
    this.fd = openSync(`/proc/${pid}/pagemap`, 'r');
  }
  /**
   * One entry per page of [start, end), at most SCAN_PAGES pages; a view of
   * this reader's buffer, valid until its next read.
   */
  read(start: bigint, end: bigint): Uint32Array {
    const n = Number((end - start) / PAGE);
    if (n > SCAN_PAGES) throw new Error(`pagemap window of ${n} pages is larger than ${SCAN_PAGES}`);
    const len = n * 8;
    let got = 0;
    while (got < len) {
      const r = readSync(this.fd, this.buf, got, len - got, Number((start / PAGE) * 8n) + got);
      this.reads++;
      if (r <= 0) throw new Error(`short read of /proc/${this.pid}/pagemap at 0x${start.toString(16)}`);
      got += r;
    }
    return new Uint32Array(this.buf.buffer, this.buf.byteOffset, n * 2);
  }
  close(): void {
    closeSync(this.fd);
  }
}

export interface Run {
  start: bigint;
  end: bigint;
}

export interface PagePlan {
  copy: Run[];
  drop: Run[];
  /** C's pages present or swapped in this mapping */
  sourcePages: number;
}

/** Runs of page indices, [first, last+1), grown one page at a time. */
function push(runs: number[], page: number): void {
  if (runs.length && runs[runs.length - 1] === page) runs[runs.length - 1] = page + 1;
  else runs.push(page, page + 1);
}

const toRuns = (start: bigint, idx: number[]): Run[] => {
  const out: Run[] = [];
  for (let k = 0; k < idx.length; k += 2) out.push({ start: start + BigInt(idx[k]!) * PAGE, end: start + BigInt(idx[k + 1]!) * PAGE });
  return out;
};

const anonymous = (hi: number) => (hi & SWAPPED) !== 0 || ((hi & PRESENT) !== 0 && (hi & FILE) === 0);

/** Compares one window of entries; page indices (from the mapping's start) go into `copy` and `drop`. */
function planWindow(privateFile: boolean, src: Uint32Array, dst: Uint32Array | undefined, first: number, copy: number[], drop: number[]): number {
  let sourcePages = 0;
  for (let i = 0; i < src.length; i += 2) {
    const sHi = src[i + 1]!;
    const dHi = dst ? dst[i + 1]! : 0;
    if ((sHi | dHi) === 0) continue; // neither has the page
    const page = first + (i >> 1);
    const sHas = (sHi & (PRESENT | SWAPPED)) !== 0;
    if (sHas) sourcePages++;
    // C reads zeros (anonymous) or the file here: the copy must not hold a private page of its own
    if (!sHas || (privateFile && !anonymous(sHi))) {
      if (anonymous(dHi)) push(drop, page);
      continue;
    }
    const sLo = src[i]!;
    const pfnKnown = sLo !== 0 || (sHi & PFN_HIGH) !== 0; // 0 unless we may read frame numbers
    const same = pfnKnown && (sHi & PRESENT) !== 0 && (dHi & PRESENT) !== 0 && sLo === dst![i] && (sHi & PFN_HIGH) === (dHi & PFN_HIGH);
    if (!same) push(copy, page);
  }
  return sourcePages;
}

/**
 * The pages of mapping `m` to copy from C and to drop in the copy. `src`: C's
 * pagemap; `dst`: the copy's (undefined for a mapping just made: it holds nothing).
 */
export function planPages(m: FullMapping, src: Pagemap, dst: Pagemap | undefined): PagePlan {
  const copy: number[] = [];
  const drop: number[] = [];
  let sourcePages = 0;
  const privateFile = m.perms[3] === 'p' && m.inode !== 0;
  const total = Number((m.end - m.start) / PAGE);
  for (let first = 0; first < total; first += SCAN_PAGES) {
    const n = Math.min(SCAN_PAGES, total - first);
    const at = m.start + BigInt(first) * PAGE;
    const end = at + BigInt(n) * PAGE;
    const s = src.read(at, end);
    // each reader has its own buffer: both views live together
    const d = dst ? dst.read(at, end) : undefined;
    sourcePages += planWindow(privateFile, s, d, first, copy, drop);
  }
  return { copy: toRuns(m.start, copy), drop: toRuns(m.start, drop), sourcePages };
}

/** `runs` sorted by address with touching runs joined (runs of neighbouring mappings become one). */
export function coalesce(runs: Run[]): Run[] {
  const out: Run[] = [];
  for (const r of [...runs].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0))) {
    const last = out[out.length - 1];
    if (last && last.end >= r.start) {
      if (r.end > last.end) last.end = r.end;
    } else out.push({ start: r.start, end: r.end });
  }
  return out;
}
