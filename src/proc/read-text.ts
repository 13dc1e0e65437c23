// Reading a /proc text file (or any file read whole, again and again) in as
// few system calls and allocations as the kernel allows. A /proc file reports
// size 0, so node's readFileSync takes its unknown-size path: an fstat, a
// fresh 64 KiB buffer for every read and a concatenation, about 100 µs of CPU
// for a short file where open, one read into a buffer kept between calls, and
// close take under 20 µs. The remote engine reads several of these while a
// target is held, where every microsecond lengthens the hold; forkall explore
// reads each run's output files this way.
import { closeSync, openSync, readSync } from 'node:fs';

let buf = Buffer.allocUnsafe(1 << 16);

/**
 * The whole content behind an open descriptor, read from offset 0 (positioned reads: a /proc
 * file is written anew for each), without an fstat. The result is a view of a buffer shared by
 * every caller: valid only until the next call, so copy or decode it at once.
 */
export function readFromStart(fd: number): Buffer {
  let len = 0;
  for (;;) {
    if (len === buf.length) {
      const bigger = Buffer.allocUnsafe(buf.length * 2);
      buf.copy(bigger, 0, 0, len);
      buf = bigger;
    }
    const n = readSync(fd, buf, len, buf.length - len, len);
    if (n === 0) break;
    len += n;
  }
  return buf.subarray(0, len);
}

/** readFileSync(path, encoding) for a /proc file, cheaper; throws as it does (ENOENT, ESRCH, EACCES). */
export function readProcText(path: string, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  const fd = openSync(path, 'r');
  try {
    return readFromStart(fd).toString(encoding);
  } finally {
    closeSync(fd);
  }
}
