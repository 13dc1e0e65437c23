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
const PRESENT = 1n << 63n;
const SWAPPED = 1n << 62n;
const FILE = 1n << 61n;
const PFN = (1n << 55n) - 1n;

export class Pagemap {
  private readonly fd: number;
  constructor(readonly pid: number) {
    this.fd = openSync(`/proc/${pid}/pagemap`, 'r');
  }
  /** One entry per page of [start, end). */
  read(start: bigint, end: bigint): BigUint64Array {
    const n = Number((end - start) / PAGE);
    const buf = Buffer.alloc(n * 8);
    let got = 0;
    while (got < buf.length) {
      const r = readSync(this.fd, buf, got, buf.length - got, Number((start / PAGE) * 8n) + got);
      if (r <= 0) throw new Error(`short read of /proc/${this.pid}/pagemap at 0x${start.toString(16)}`);
      got += r;
    }
    return new BigUint64Array(buf.buffer, buf.byteOffset, n);
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

function push(runs: Run[], at: bigint): void {
  const last = runs[runs.length - 1];
  if (last && last.end === at) last.end = at + PAGE;
  else runs.push({ start: at, end: at + PAGE });
}

const anonymous = (e: bigint) => (e & SWAPPED) !== 0n || ((e & PRESENT) !== 0n && (e & FILE) === 0n);

/**
 * The pages of mapping `m` to copy from C and to drop in the copy. `src`: C's
 * entries; `dst`: the copy's (undefined for a mapping just made: it holds nothing).
 */
export function planPages(m: FullMapping, src: BigUint64Array, dst: BigUint64Array | undefined): PagePlan {
  const plan: PagePlan = { copy: [], drop: [], sourcePages: 0 };
  const privateFile = m.perms[3] === 'p' && m.inode !== 0;
  for (let i = 0; i < src.length; i++) {
    const s = src[i]!;
    const d = dst ? dst[i]! : 0n;
    const at = m.start + BigInt(i) * PAGE;
    const sHas = (s & (PRESENT | SWAPPED)) !== 0n;
    if (sHas) plan.sourcePages++;
    // C reads zeros (anonymous) or the file here: the copy must not hold a private page of its own
    const sReadsBacking = !sHas || (privateFile && !anonymous(s));
    if (sReadsBacking) {
      if (anonymous(d)) push(plan.drop, at);
      continue;
    }
    const same = (s & PRESENT) !== 0n && (d & PRESENT) !== 0n && (s & PFN) !== 0n && (s & PFN) === (d & PFN);
    if (!same) push(plan.copy, at);
  }
  return plan;
}
