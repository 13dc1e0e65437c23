// Reads another process's memory through /proc/PID/mem (read-only: needs the
// same ptrace-read permission as process_vm_readv, and never stops the target).
import { closeSync, openSync, readSync } from 'node:fs';
import { UnforkError } from './errors.js';

export class TargetMemory {
  private readonly fd: number;
  constructor(readonly pid: number) {
    try {
      this.fd = openSync(`/proc/${pid}/mem`, 'r');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ESRCH') throw new UnforkError(`PID ${pid} has no memory to import (a zombie or a kernel thread)`, 'bad-target');
      if (code === 'ENOENT') throw new UnforkError(`no process with PID ${pid}`, 'no-such-process');
      throw new UnforkError(
        `cannot read the memory of PID ${pid} (${code}): unfork needs ptrace-read permission on it — run as its user or as root (CAP_SYS_PTRACE); the target was not touched`,
        'denied',
      );
    }
  }
  read(addr: bigint, len: number): Buffer {
    const b = Buffer.alloc(len);
    let n = 0;
    try {
      n = readSync(this.fd, b, 0, len, addr);
    } catch {
      n = -1;
    }
    if (n !== len) throw new Error(`cannot read ${len} bytes at 0x${addr.toString(16)} in process ${this.pid}`);
    return b;
  }
  u64(addr: bigint): bigint {
    return this.read(addr, 8).readBigUInt64LE();
  }
  u32(addr: bigint): number {
    return this.read(addr, 4).readUInt32LE();
  }
  close(): void {
    closeSync(this.fd);
  }
}
