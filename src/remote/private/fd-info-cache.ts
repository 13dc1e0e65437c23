// The fdinfo of a held process's descriptors, each read once, and what a
// descriptor's flags say about it.
import { O_ACCMODE, O_CLOEXEC, readFdInfo, type FdInfo } from '../../proc/fdinfo.js';
import type { FdSlot } from './plan.js';

/** The file status flags in fdinfo's `flags` (without the access mode and the per-descriptor O_CLOEXEC). */
export const STATUS_MASK = ~(O_ACCMODE | O_CLOEXEC);

export class FdInfoCache {
  private readonly cache = new Map<number, FdInfo>();
  constructor(private readonly pid: number) {}
  get(fd: number): FdInfo {
    let i = this.cache.get(fd);
    if (!i) this.cache.set(fd, (i = readFdInfo(this.pid, fd)));
    return i;
  }
  slot(fd: number): FdSlot {
    return { fd, cloexec: (this.get(fd).flags & O_CLOEXEC) !== 0 };
  }
}
