// Reads and writes another process's memory through /proc/<pid>/mem (allowed
// to its tracer), so a bad address is an error, never a crash.
import { closeSync, openSync, readSync, writeSync } from 'node:fs';

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
  write(addr: bigint, data: Buffer): void {
    const n = writeSync(this.fd, data, 0, data.length, Number(addr)); // user addresses fit in 2^53
    if (n !== data.length) throw new Error(`short write of ${data.length} bytes at 0x${addr.toString(16)} in process ${this.pid}`);
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
