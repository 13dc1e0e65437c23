// Reading a /proc text file in as few system calls and allocations as the
// kernel allows. A /proc file reports size 0, so node's readFileSync takes its
// unknown-size path: an fstat, a fresh 64 KiB buffer for every read and a
// concatenation, about 100 µs of CPU for a short file where open, one read
// into a buffer kept between calls, and close take under 20 µs. The remote
// engine reads several of these while a target is held, where every
// microsecond lengthens the hold.
import { closeSync, openSync, readSync } from 'node:fs';

let buf = Buffer.allocUnsafe(1 << 16);

/** The whole text behind an open /proc file descriptor, read from offset 0 (the kernel writes it anew). */
export function preadText(fd: number, encoding: 'utf8' | 'latin1' = 'utf8'): string {
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
  return buf.toString(encoding, 0, len);
}

/** readFileSync(path, encoding) for a /proc file, cheaper; throws as it does (ENOENT, ESRCH, EACCES). */
export function readProcText(path: string, encoding: 'utf8' | 'latin1' = 'utf8'): string {
  const fd = openSync(path, 'r');
  try {
    return preadText(fd, encoding);
  } finally {
    closeSync(fd);
  }
}
