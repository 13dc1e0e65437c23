// Reads and writes another process's memory through /proc/<pid>/mem (allowed
// to its tracer), so a bad address is an error, never a crash. Many small
// ranges at once (the per-thread bytes of a held target) go in one
// process_vm_readv/writev, since every system call made while the target is
// held lengthens the hold; a range that call cannot do (a page it may not
// touch) is done alone through /proc/<pid>/mem, exactly as a single one is.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';
import koffi from 'koffi';
import { processVmReadv, processVmWritev } from './libc.js';

export interface MemRange {
  addr: bigint;
  len: number;
}

/** The kernel's limit on iovecs per call (UIO_MAXIOV). */
const IOV_MAX = 1024;

/** struct iovec arrays for the local buffers and the remote ranges. */
function iovecs(bufs: Buffer[], addrs: bigint[]): { local: Buffer; remote: Buffer } {
  const local = Buffer.alloc(16 * bufs.length);
  const remote = Buffer.alloc(16 * bufs.length);
  bufs.forEach((b, i) => {
    local.writeBigUInt64LE(BigInt(koffi.address(b)), 16 * i);
    local.writeBigUInt64LE(BigInt(b.length), 16 * i + 8);
    remote.writeBigUInt64LE(addrs[i]!, 16 * i);
    remote.writeBigUInt64LE(BigInt(b.length), 16 * i + 8);
  });
  return { local, remote };
}

/**
 * Moves `bufs` to or from `addrs` with one vectored call per IOV_MAX ranges;
 * returns how many ranges, from the first, were moved whole (the kernel stops
 * at the first range it cannot do).
 */
function vectored(call: typeof processVmReadv, pid: number, bufs: Buffer[], addrs: bigint[]): number {
  let done = 0;
  while (done < bufs.length) {
    const part = bufs.slice(done, done + IOV_MAX);
    const { local, remote } = iovecs(part, addrs.slice(done, done + IOV_MAX));
    let n = call(pid, local, part.length, remote, part.length, 0);
    if (n <= 0) return done;
    for (const b of part) {
      if (n < b.length) return done;
      n -= b.length;
      done++;
    }
  }
  return done;
}

export class ProcessMemory {
  private readonly fd: number;
  constructor(readonly pid: number) {
    this.fd = openSync(`/proc/${pid}/mem`, 'r+');
  }
  read(addr: bigint, len: number): Buffer {
    const b = Buffer.alloc(len);
    const n = readSync(this.fd, b, 0, len, addr);
    if (n !== len) throw new Error(`short read of ${len} bytes at 0x${addr.toString(16)} in process ${this.pid}`);
    return b;
  }
  /** Like read, but undefined where the memory is not mapped. */
  tryRead(addr: bigint, len: number): Buffer | undefined {
    try {
      return this.read(addr, len);
    } catch {
      return undefined;
    }
  }
  /** tryRead of every range, in one system call when all are readable (zero-length ranges give empty buffers). */
  tryReadMany(ranges: MemRange[]): (Buffer | undefined)[] {
    const out: (Buffer | undefined)[] = ranges.map((r) => Buffer.alloc(r.len));
    const todo = ranges.map((_, i) => i).filter((i) => ranges[i]!.len > 0);
    for (let from = 0; from < todo.length; ) {
      const idx = todo.slice(from);
      from += vectored(processVmReadv, this.pid, idx.map((i) => out[i]!), idx.map((i) => ranges[i]!.addr));
      if (from < todo.length) {
        const i = todo[from++]!; // the range the kernel stopped at: alone, as tryRead
        out[i] = this.tryRead(ranges[i]!.addr, ranges[i]!.len);
      }
    }
    return out;
  }
  /** read of every range (an error names the first that cannot be read). */
  readMany(ranges: MemRange[]): Buffer[] {
    return this.tryReadMany(ranges).map((b, i) => b ?? this.read(ranges[i]!.addr, ranges[i]!.len));
  }
  write(addr: bigint, data: Buffer): void {
    const n = writeSync(this.fd, data, 0, data.length, Number(addr)); // user addresses fit in 2^53
    if (n !== data.length) throw new Error(`short write of ${data.length} bytes at 0x${addr.toString(16)} in process ${this.pid}`);
  }
  /** write of each, in order (a later one wins where they overlap), in one system call when the kernel allows it. */
  writeMany(items: { addr: bigint; data: Buffer }[]): void {
    const todo = items.filter((w) => w.data.length > 0);
    for (let from = 0; from < todo.length; ) {
      const rest = todo.slice(from);
      from += vectored(processVmWritev, this.pid, rest.map((w) => w.data), rest.map((w) => w.addr));
      if (from < todo.length) {
        const w = todo[from++]!; // one the kernel refused (a page only /proc/PID/mem may write): alone
        this.write(w.addr, w.data);
      }
    }
  }
  /** Reads `len` bytes at `addr` into the start of `buf` (a reused buffer, no allocation). */
  readInto(addr: bigint, buf: Buffer, len: number): void {
    const n = readSync(this.fd, buf, 0, len, addr);
    if (n !== len) throw new Error(`short read of ${len} bytes at 0x${addr.toString(16)} in process ${this.pid}`);
  }
  /** Writes the first `len` bytes of `buf` at `addr`. */
  writeFrom(addr: bigint, buf: Buffer, len: number): void {
    const n = writeSync(this.fd, buf, 0, len, Number(addr));
    if (n !== len) throw new Error(`short write of ${len} bytes at 0x${addr.toString(16)} in process ${this.pid}`);
  }
  close(): void {
    closeSync(this.fd);
  }
}
