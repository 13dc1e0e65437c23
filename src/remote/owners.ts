// Lock owners in the clone's memory: with new TIDs, a lock word holding an old
// TID would look owned by a thread of the original. Rewritten, before any of
// the clone's threads runs, wherever the owner can be found exactly (the same
// rules as the in-process engine, native/src/owners.c):
//  - each thread's robust-futex list (lock word, and glibc's __owner beside it);
//  - glibc: ld.so's recursive locks (in its writable data), owned by one of ours.
import type { ProcessMemory } from './memory.js';
import type { Mapping } from './syscall-insn.js';

const FUTEX_TID_MASK = 0x3fffffff;
const LIST_LIMIT = 2048;
/** musl's pthread_mutex_t on x86-64: list entries point at _m_next (byte 32), the lock word _m_lock is byte 4. */
const MUSL_LOCK_FROM_NEXT = 4n - 32n;

export interface OwnerMove {
  head: bigint;
  oldTid: number;
  newTid: number;
}

function fixLockWord(mem: ProcessMemory, addr: bigint, oldTid: number, newTid: number, glibc: boolean): number {
  const b = mem.tryRead(addr, 12);
  if (!b) return 0;
  let n = 0;
  const w = b.readInt32LE(0);
  if ((w & FUTEX_TID_MASK) === oldTid) {
    b.writeInt32LE((w & ~FUTEX_TID_MASK) | newTid, 0);
    n++;
  }
  if (glibc && b.readInt32LE(8) === oldTid) {
    b.writeInt32LE(newTid, 8); // struct __pthread_mutex_s: __lock, __count, __owner
    n++;
  }
  if (n) mem.write(addr, b);
  return n;
}

function fixRobustList(mem: ProcessMemory, m: OwnerMove, glibc: boolean): number {
  const h = m.head ? mem.tryRead(m.head, 24) : undefined;
  if (!h) return 0;
  // musl fills in the offset only when it registers the list with the kernel
  const off = h.readBigInt64LE(8) || (glibc ? 0n : MUSL_LOCK_FROM_NEXT);
  if (!off) return 0;
  let fixed = 0;
  let entry = h.readBigUInt64LE(0);
  for (let i = 0; entry && entry !== m.head && i < LIST_LIMIT; i++) {
    fixed += fixLockWord(mem, entry + BigInt(off), m.oldTid, m.newTid, glibc);
    const next = mem.tryRead(entry, 8);
    if (!next) break;
    entry = next.readBigUInt64LE(0);
  }
  const pending = h.readBigUInt64LE(16);
  if (pending) fixed += fixLockWord(mem, pending + BigInt(off), m.oldTid, m.newTid, glibc);
  return fixed;
}

/** ld.so's recursive pthread mutexes: __lock != 0, __count >= 1, __owner one of ours, kind recursive. */
function fixLdsoLocks(mem: ProcessMemory, maps: Mapping[], newOf: Map<number, number>): number {
  let fixed = 0;
  for (const m of maps) {
    if (!/\/ld-linux[^/]*\.so/.test(m.path) || !m.perms.startsWith('rw')) continue;
    const data = mem.tryRead(m.start, Number(m.end - m.start));
    if (!data) continue;
    for (let off = 0; off + 20 <= data.length; off += 8) {
      if (data.readInt32LE(off) === 0 || data.readInt32LE(off + 4) < 1 || (data.readInt32LE(off + 16) & 0x7f) !== 1) continue;
      const n = newOf.get(data.readInt32LE(off + 8));
      if (n === undefined) continue;
      const b = Buffer.alloc(4);
      b.writeInt32LE(n, 0);
      mem.write(m.start + BigInt(off + 8), b);
      fixed++;
    }
  }
  return fixed;
}

/**
 * musl keeps each thread's owned locks (recursive, errorcheck, PI, robust) on
 * a list in its descriptor and registers it with the kernel only after a
 * robust lock. An empty list's head points at itself, so the field is the one
 * word (after `self` at offset 0) of some thread's descriptor that holds its
 * own address. Returns its offset from the thread pointer, or -1.
 */
export function findOwnerListOffset(mem: ProcessMemory, threadPointers: bigint[]): number {
  for (const tp of threadPointers) {
    const d = tp ? mem.tryRead(tp, 256) : undefined;
    if (!d) continue;
    for (let off = 8; off + 8 <= d.length; off += 8) if (d.readBigUInt64LE(off) === tp + BigInt(off)) return off;
  }
  return -1;
}

export function isGlibc(maps: Mapping[]): boolean {
  return maps.some((m) => /\/libc\.so\.6$/.test(m.path));
}

/** Rewrites every owner it can find; returns how many lock words changed. */
export function fixOwners(mem: ProcessMemory, maps: Mapping[], moves: OwnerMove[]): number {
  const glibc = isGlibc(maps);
  let fixed = 0;
  for (const m of moves) fixed += fixRobustList(mem, m, glibc);
  if (glibc) fixed += fixLdsoLocks(mem, maps, new Map(moves.map((m) => [m.oldTid, m.newTid])));
  return fixed;
}
