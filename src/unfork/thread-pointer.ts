// The thread pointer (fs_base) of the target's main thread, found in its
// memory without ptrace or signals, so the target's code can run in the copy
// with the main thread's TLS (errno, stack-protector canary, locale, the
// owner identity of stdio locks).
//
// glibc: ld.so keeps every thread whose stack it did not allocate, the main
// thread included, on the list `_dl_stack_user` (a field of `_rtld_global`;
// a plain variable in static programs). libc.so.6 exports the layout that
// libthread_db uses (`_thread_db_*`: {bits, count, offset} triples): the
// list's offset in _rtld_global, the list link's and the TID's offsets in
// struct pthread. On x86-64 the thread pointer is the struct pthread itself.
// musl: no such export; every thread descriptor starts with a pointer to
// itself and holds the thread's TID (offset 48 since 1.2.2, 56 before) and the
// links of a circular list of all threads. The descriptor of the main thread
// is in the data of libc (or the static program) or in anonymous memory; it
// is found by scanning for a self pointer with the main TID, and accepted
// only when its thread list closes back on it.
import type { Mapping } from './maps.js';
import type { TargetMemory } from './memory.js';
import type { SymbolResolver } from './resolve.js';

function descriptorOffset(mem: TargetMemory, syms: SymbolResolver, name: string): bigint | undefined {
  const s = syms.resolve(name);
  if (!s) return undefined;
  return BigInt(mem.u32(s.address + 8n)); // {size in bits, count, offset}
}

function glibcMainThread(mem: TargetMemory, syms: SymbolResolver, tids: number[]): bigint | undefined {
  const listOff = descriptorOffset(mem, syms, '_thread_db_pthread_list');
  const tidOff = descriptorOffset(mem, syms, '_thread_db_pthread_tid');
  if (listOff === undefined || tidOff === undefined) return undefined;
  let head: bigint | undefined;
  const rtld = syms.resolve('_rtld_global');
  const userOff = descriptorOffset(mem, syms, '_thread_db_rtld_global__dl_stack_user');
  if (rtld && userOff !== undefined) head = rtld.address + userOff;
  else head = syms.resolve('_dl_stack_user')?.address;
  if (head === undefined) return undefined;
  let last: bigint | undefined;
  for (let e = mem.u64(head), n = 0; e !== head && e !== 0n && n < 100_000; e = mem.u64(e), n++) {
    const pd = e - listOff;
    last = pd;
    if (tids.includes(mem.u32(pd + tidOff)) && mem.u64(pd) === pd && mem.u64(pd + 16n) === pd) return pd;
  }
  // the main thread was the first on the list (its tail); its TID may differ in a copy
  return last !== undefined && mem.u64(last) === last ? last : undefined;
}

function musl(mem: TargetMemory, pd: bigint, tidOff: bigint, tids: number[]): boolean {
  if (!tids.includes(mem.u32(pd + tidOff))) return false;
  // self, dtv, prev, next: walk next until back at pd, every node self-pointing
  let n = mem.u64(pd + 24n);
  for (let i = 0; i < 100_000; i++) {
    if (n === pd) return true;
    if (n === 0n || mem.u64(n) !== n) return false;
    n = mem.u64(n + 24n);
  }
  return false;
}

function scanForSelfPointer(mem: TargetMemory, maps: Mapping[], tids: number[], objects: string[]): bigint | undefined {
  const libcish = (p: string) => objects.includes(p) || /\/(ld-musl|libc)[^/]*$/.test(p);
  const writable = maps.filter((m) => m.perms.startsWith('rw') && !m.path.startsWith('['));
  // the data of libc and the program first (musl's builtin TLS), then anonymous memory
  const order = [...writable.filter((m) => libcish(m.path)), ...writable.filter((m) => !libcish(m.path))];
  let budget = 256 << 20;
  for (const m of order) {
    for (let at = m.start; at < m.end && budget > 0; at += 1n << 20n) {
      const len = Number(m.end - at < 1n << 20n ? m.end - at : 1n << 20n);
      budget -= len;
      let b: Buffer;
      try {
        b = mem.read(at, len);
      } catch {
        break;
      }
      for (let o = 0; o + 64 <= len; o += 8) {
        const p = at + BigInt(o);
        if (b.readBigUInt64LE(o) !== p) continue;
        for (const tidOff of [48n, 56n]) {
          try {
            if (musl(mem, p, tidOff, tids)) return p;
          } catch {
            // a link into unreadable memory: not a thread descriptor
          }
        }
      }
    }
  }
  return undefined;
}

/** The main thread's thread pointer in process `source`; `tids` are the TIDs the main thread may carry there. */
export function findMainThreadPointer(mem: TargetMemory, maps: Mapping[], syms: SymbolResolver, tids: number[]): { tp: bigint; how: string } | undefined {
  try {
    const g = glibcMainThread(mem, syms, tids);
    if (g !== undefined) return { tp: g, how: 'glibc _dl_stack_user' };
  } catch {
    // fall through to the scan
  }
  const m = scanForSelfPointer(mem, maps, tids, syms.objectPaths);
  return m !== undefined ? { tp: m, how: 'musl thread descriptor' } : undefined;
}
