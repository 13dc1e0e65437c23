// Where to find a `syscall` instruction (0f 05) in the target to run injected
// calls from: the vDSO has one in its fallback paths, and it is mapped in
// every process at an address only the process knows, so read it from maps.
import { readProcText } from '../proc/read-text.js';
import type { ProcessMemory } from './memory.js';

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
}

/** /proc/PID/maps, parsed by position (it is read while the target is held: no regular expressions, one pass). */
export function readMaps(pid: number): Mapping[] {
  const text = readProcText(`/proc/${pid}/maps`, 'latin1');
  const out: Mapping[] = [];
  for (let at = 0; at < text.length; ) {
    let eol = text.indexOf('\n', at);
    if (eol < 0) eol = text.length;
    const dash = text.indexOf('-', at);
    const sp1 = text.indexOf(' ', dash);
    const sp2 = text.indexOf(' ', sp1 + 1); // after perms
    // offset, device, inode, then spaces up to the path (absent for anonymous memory)
    let f = sp2;
    for (let k = 0; k < 3; k++) f = text.indexOf(' ', f + 1);
    let p = f;
    while (p < eol && text.charCodeAt(p) === 32) p++;
    out.push({ start: BigInt('0x' + text.slice(at, dash)), end: BigInt('0x' + text.slice(dash + 1, sp1)), perms: text.slice(sp1 + 1, sp2), path: f < 0 || f > eol ? '' : Buffer.from(text.slice(p, eol), 'latin1').toString('utf8') });
    at = eol + 1;
  }
  return out;
}

/**
 * Whether some mapping of `maps` (sorted by address, as /proc lists them)
 * holds the stack pointer `sp`: start < sp <= end (a full stack's pointer is
 * its top). A binary search: a process may have thousands of threads and mappings.
 */
export function holdsStackPointer(maps: Mapping[], sp: bigint): boolean {
  let lo = 0;
  let hi = maps.length; // the first mapping with start >= sp
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (maps[mid]!.start < sp) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 && sp <= maps[lo - 1]!.end;
}

export function findSyscallInsn(maps: Mapping[], mem: ProcessMemory): bigint {
  const candidates = [...maps.filter((m) => m.path === '[vdso]'), ...maps.filter((m) => m.perms.includes('x') && /libc[.-]/.test(m.path))];
  for (const m of candidates) {
    const len = Number(m.end - m.start);
    const bytes = mem.tryRead(m.start, Math.min(len, 1 << 20));
    if (!bytes) continue;
    for (let i = 0; i + 1 < bytes.length; i++) if (bytes[i] === 0x0f && bytes[i + 1] === 0x05) return m.start + BigInt(i);
  }
  throw new Error(`no syscall instruction found in the vDSO or libc of process ${mem.pid}`);
}
