// Which pages of C the copy must be given, read from /proc/PID/pagemap (one
// 64-bit entry per page: bit 63 present, 62 swapped, 61 a file page or shared
// anonymous memory, bits 0-54 the page frame number, 0 unless we are root).
// A page of a kept mapping whose frame is the one the copy holds (fork's
// copy-on-write from X, which shares it with P, whose child C is) is already
// there; any other page C has (present or swapped, and in a private file
// mapping only its anonymous copies: file pages read the same file) is copied;
// a private page the copy holds where C reads zeros or the file is dropped.
import { closeSync, openSync, readSync } from 'node:fs';
import type { FullMapping } from './adopt-maps.js';

const PAGE = 4096n;
// each entry as two 32-bit words (little-endian: low, high), compared without BigInt
const PRESENT = 0x80000000;
const SWAPPED = 0x40000000;
const FILE = 0x20000000;
const PFN_HIGH = 0x7fffff; // frame number bits 32-54

export class Pagemap {
  private readonly fd: number;
  constructor(readonly pid: number) {
    this.fd = openSync(`/proc/${pid}/pagemap`, 'r');
  }
  /** One entry per page of [start, end). */
  read(start: bigint, end: bigint): Uint32Array {
    const n = Number((end - start) / PAGE);
    const buf = Buffer.alloc(n * 8);
    let got = 0;
    while (got < buf.length) {
      const r = readSync(this.fd, buf, got, buf.length - got, Number((start / PAGE) * 8n) + got);
      if (r <= 0) throw new Error(`short read of /proc/${this.pid}/pagemap at 0x${start.toString(16)}`);
      got += r;
    }
    return new Uint32Array(buf.buffer, buf.byteOffset, n * 2);
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

/**
 * The pages of mapping `m` to copy from C and to drop in the copy. `src`: C's
 * entries; `dst`: the copy's (undefined for a mapping just made: it holds nothing).
 */
export function planPages(m: FullMapping, src: Uint32Array, dst: Uint32Array | undefined): PagePlan {
  const copy: number[] = [];
  const drop: number[] = [];
  let sourcePages = 0;
  const privateFile = m.perms[3] === 'p' && m.inode !== 0;
  for (let i = 0; i < src.length; i += 2) {
    const sHi = src[i + 1]!;
    const dHi = dst ? dst[i + 1]! : 0;
    if ((sHi | dHi) === 0) continue; // neither has the page
    const page = i >> 1;
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
  return { copy: toRuns(m.start, copy), drop: toRuns(m.start, drop), sourcePages };
}
