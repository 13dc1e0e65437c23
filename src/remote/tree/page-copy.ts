// Copies the pages of C that its copy C' lacks (adopt-pages.ts found them).
//
// The bulk, the pages of C's private mappings that are readable and writable,
// C' copies itself: a process_vm_readv injected into C' reads C at the very
// addresses it writes (the local and remote iovec arrays are one array in
// C''s call page). The kernel moves each page once, from C's frame into a new
// frame of C', with no buffer of ours in between and no chunking; and since
// the call runs in C''s own task, it is started and left running (`start`)
// while the orchestrator makes the next member's copy, then collected
// (`finish`) before anything else is asked of C'. The copies of a parent's
// children so fill themselves in parallel, on as many cores as there are.
//
// The rest goes through /proc/PID/mem from here, at once, in chunks of up to
// DIRECT_CHUNK through one buffer per batch (its writes use FOLL_FORCE, so they
// reach pages C' may not write): mappings C' may not write or C may not read
// (RELRO, PROT_NONE with contents), and all that is left when C' may not read
// C (process_vm_readv checks ptrace access from C': a non-dumpable C denies it
// to a copy without CAP_SYS_PTRACE) or stops part way.
//
// C is only read: process_vm_readv and /proc/C/mem reads neither write nor
// break copy-on-write in C (a swapped page of C is read back in, as any read
// does).
import { RemoteError } from '../errors.js';
import { errnoName } from '../libc.js';
import type { ProcessMemory } from '../memory.js';
import { CopyCalls, NR_ADOPT } from './adopt-calls.js';
import type { FullMapping } from './adopt-maps.js';
import { coalesce, type Run } from './adopt-pages.js';

const DIRECT_CHUNK = 8 << 20;
/** iovecs per process_vm_readv: as many as the call page holds (the kernel takes up to IOV_MAX, 1024) */
const IOV_PER_CALL = Math.min(1024, CopyCalls.ARG_BYTES / 16);
/** bytes per process_vm_readv, well under the kernel's MAX_RW_COUNT (which would cut the call short) */
const BYTES_PER_CALL = 1n << 30n;

const hex = (v: bigint) => v.toString(16);
const bytes = (runs: Run[]) => runs.reduce((n, r) => n + (r.end - r.start), 0n);

/** Which way a mapping's pages can go: C' reads them itself, or we write them. */
export const copyFillsItself = (m: FullMapping): boolean => m.perms[0] === 'r' && m.perms[1] === 'w' && m.perms[3] === 'p';

export interface PageCopyStats {
  /** pages C' copied itself, and pages written from here */
  pagesByCopy: number;
  pagesDirect: number;
  /** process_vm_readv calls C' made; why it could not do all (errno name), if so */
  copyCalls: number;
  fallback?: string;
  /** µs: writing from here, and waiting for C''s own copy to end once collected */
  directUs: number;
  waitUs: number;
}

export class PageCopy {
  private readonly byCopy: Run[] = [];
  private readonly direct: Run[] = [];
  private pending?: { collect: () => bigint; runs: Run[]; len: bigint };
  /** runs C' has still to copy, in address order */
  private queue: Run[] = [];
  private started = false;
  readonly stats: PageCopyStats = { pagesByCopy: 0, pagesDirect: 0, copyCalls: 0, directUs: 0, waitUs: 0 };

  constructor(
    private readonly calls: CopyCalls,
    private readonly cpid: number,
    private readonly src: number,
    private readonly srcMem: ProcessMemory,
    /** false when C' cannot name C by its PID (inside an exact-TID namespace the number is C''s own) */
    private readonly copyReadsSource = true,
  ) {}

  /** The runs of C's mapping `m` to copy. */
  add(m: FullMapping, runs: Run[]): void {
    (this.copyReadsSource && copyFillsItself(m) ? this.byCopy : this.direct).push(...runs);
  }

  /** Writes from here what C' cannot copy itself. */
  copyDirect(): void {
    const t = performance.now();
    this.stats.pagesDirect += Number(bytes(this.direct) / 4096n);
    this.writeRuns(coalesce(this.direct.splice(0)));
    this.stats.directUs += Math.round((performance.now() - t) * 1000);
  }

  /** Starts C''s own copy and returns while it runs. */
  start(): void {
    if (this.started) throw new Error('page copy started twice');
    this.started = true;
    this.queue = coalesce(this.byCopy.splice(0));
    this.next();
  }

  /** Waits for C''s copy to end (running any further calls, writing from here what it could not). */
  finish(): PageCopyStats {
    if (!this.started) this.start();
    const t = performance.now();
    const directBefore = this.stats.directUs;
    while (this.pending) {
      const { collect, runs, len } = this.pending;
      this.pending = undefined;
      const ret = collect();
      if (ret > 0n) this.stats.pagesByCopy += Number(ret / 4096n);
      if (ret === len) {
        this.next();
        continue;
      }
      // short or failed: what was copied is in order from the first run; the rest is queued again
      const left = ret > 0n ? skip(runs, ret) : runs;
      this.queue.unshift(...left);
      if (ret > 0n) this.next(); // it stopped at a limit of its own: it goes on from there
      else {
        this.stats.fallback = errnoName(Number(-ret));
        const rest = this.queue.splice(0);
        const w = performance.now();
        this.stats.pagesDirect += Number(bytes(rest) / 4096n);
        this.writeRuns(rest);
        this.stats.directUs += Math.round((performance.now() - w) * 1000);
      }
    }
    this.stats.waitUs = Math.max(0, Math.round((performance.now() - t) * 1000) - (this.stats.directUs - directBefore));
    return this.stats;
  }

  /** Starts one process_vm_readv over the next runs in the queue, if any. */
  private next(): void {
    const runs: Run[] = [];
    let len = 0n;
    while (this.queue.length && runs.length < IOV_PER_CALL && len < BYTES_PER_CALL) {
      const r = this.queue[0]!;
      const room = BYTES_PER_CALL - len;
      if (r.end - r.start > room) {
        runs.push({ start: r.start, end: r.start + room });
        this.queue[0] = { start: r.start + room, end: r.end };
      } else runs.push(this.queue.shift()!);
      len += runs[runs.length - 1]!.end - runs[runs.length - 1]!.start;
    }
    if (!runs.length) return;
    const iov = Buffer.alloc(runs.length * 16);
    runs.forEach((r, i) => {
      iov.writeBigUInt64LE(r.start, i * 16);
      iov.writeBigUInt64LE(r.end - r.start, i * 16 + 8);
    });
    const at = this.calls.arg(iov);
    this.stats.copyCalls++;
    // local and remote: the same iovecs (C''s page at C's address)
    this.pending = { collect: this.calls.begin(NR_ADOPT.process_vm_readv, [this.src, at, runs.length, at, runs.length, 0]), runs, len };
  }

  private writeRuns(runs: Run[]): void {
    const chunk = BigInt(DIRECT_CHUNK);
    const most = runs.reduce((n, r) => (r.end - r.start > n ? r.end - r.start : n), 0n);
    if (!most) return;
    const buf = Buffer.allocUnsafe(Number(most < chunk ? most : chunk)); // only what is read is written
    for (const r of runs)
      for (let at = r.start; at < r.end; at += chunk) {
        const len = Number(r.end - at < chunk ? r.end - at : chunk);
        try {
          this.srcMem.readInto(at, buf, len);
          this.calls.mem.writeFrom(at, buf, len);
        } catch (e) {
          throw new RemoteError(`PID ${this.src}: copying its pages ${hex(at)}-${hex(at + BigInt(len))} into the copy ${this.cpid} failed: ${e instanceof Error ? e.message : String(e)}`, 'failed');
        }
      }
  }
}

/** `runs` without their first `n` bytes. */
function skip(runs: Run[], n: bigint): Run[] {
  const out: Run[] = [];
  let left = n;
  for (const r of runs) {
    const len = r.end - r.start;
    if (left >= len) {
      left -= len;
      continue;
    }
    out.push({ start: r.start + left, end: r.end });
    left = 0n;
  }
  return out;
}
