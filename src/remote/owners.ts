// Lock owners in the clone's memory: with new TIDs, a lock word holding an old
// TID would look owned by a thread of the original. Rewritten, before any of
// the clone's threads runs, wherever the owner can be found exactly (the same
// rules as the in-process engine, native/src/owners.c, from the same table,
// native/src/layout_rules.h; what to look at comes from libc-layout.ts):
//  - each thread's robust-futex list, or musl's unregistered owner list (lock
//    word, and glibc's __owner beside it);
//  - glibc: ld.so's recursive locks (in its writable data), owned by one of ours;
//  - glibc: libc's own rwlocks (in its writable data and .bss) write-held by one of ours.
import { layoutRules } from './layout-rules.js';
import type { LibcLayout } from './libc-layout.js';
import type { ProcessMemory } from './memory.js';
import type { Mapping } from './syscall-insn.js';

export interface OwnerMove {
  head: bigint;
  oldTid: number;
  newTid: number;
}

function fixLockWord(mem: ProcessMemory, addr: bigint, oldTid: number, newTid: number, glibc: boolean): number {
  const r = layoutRules();
  const ownerAt = r.glibcMutexOwner;
  const b = mem.tryRead(addr, ownerAt + 4);
  if (!b) return 0;
  let n = 0;
  const w = b.readInt32LE(0);
  if ((w & r.futexTidMask) === oldTid) {
    b.writeInt32LE((w & ~r.futexTidMask) | newTid, 0);
    n++;
  }
  if (glibc && b.readInt32LE(ownerAt) === oldTid) {
    b.writeInt32LE(newTid, ownerAt); // struct __pthread_mutex_s: __lock, __count, __owner
    n++;
  }
  if (n) mem.write(addr, b);
  return n;
}

/** `h`: the list head's 24 bytes (next, offset, pending), read with every other head at once. */
function fixRobustList(mem: ProcessMemory, m: OwnerMove, h: Buffer | undefined, layout: LibcLayout): number {
  const r = layoutRules();
  if (!h || h.length < 24) return 0;
  const glibc = layout.libc.kind === 'glibc';
  // musl fills in the offset only when it registers the list with the kernel
  const off = h.readBigInt64LE(8) || BigInt(layout.ownerLockOffset ?? 0);
  if (!off) return 0;
  let fixed = 0;
  let entry = h.readBigUInt64LE(0);
  for (let i = 0; entry && entry !== m.head && i < r.ownerListLimit; i++) {
    fixed += fixLockWord(mem, entry + off, m.oldTid, m.newTid, glibc);
    const next = mem.tryRead(entry, 8);
    if (!next) break;
    entry = next.readBigUInt64LE(0);
  }
  const pending = h.readBigUInt64LE(16);
  if (pending) fixed += fixLockWord(mem, pending + off, m.oldTid, m.newTid, glibc);
  return fixed;
}

/**
 * A lock found by shape in a region, in 32-bit words (every field of these locks is an int):
 * is the candidate starting at word `w` held, and which of its words holds the owner TID.
 */
interface LockShape {
  step: number;
  words: number;
  held: (d: Int32Array, w: number) => boolean;
  owner: number;
}

/** The region's bytes as 32-bit words (a copy when the buffer is not 4-aligned). */
function wordsOf(data: Buffer): Int32Array {
  const b = data.byteOffset % 4 ? new Uint8Array(data) : data;
  return new Int32Array(b.buffer, b.byteOffset, b.length >> 2);
}

/**
 * Rewrites the owner TID of every held lock of that shape whose owner is one of ours. The
 * owner word is tested first, against the range of our TIDs: almost every candidate fails
 * there, so the scan of a libc's data costs a compare per step.
 */
function fixLocksByShape(mem: ProcessMemory, regions: Mapping[], contents: (Buffer | undefined)[], shape: LockShape, newOf: Map<number, number>): number {
  let lo = Infinity;
  let hi = -Infinity;
  for (const t of newOf.keys()) {
    lo = Math.min(lo, t);
    hi = Math.max(hi, t);
  }
  let fixed = 0;
  for (const [i, m] of regions.entries()) {
    const data = contents[i];
    if (!data?.length) continue;
    const d = wordsOf(data);
    for (let w = 0; w + shape.words <= d.length; w += shape.step) {
      const owner = d[w + shape.owner]!;
      if (owner < lo || owner > hi || !shape.held(d, w)) continue;
      const n = newOf.get(owner);
      if (n === undefined) continue;
      const b = Buffer.alloc(4);
      b.writeInt32LE(n, 0);
      mem.write(m.start + BigInt(4 * (w + shape.owner)), b);
      fixed++;
    }
  }
  return fixed;
}

/** ld.so's recursive pthread mutexes: __lock != 0, __count >= 1, __owner one of ours, kind recursive. */
function ldsoLockShape(): LockShape {
  const l = layoutRules().ldsoLock;
  const [count, kind] = [l.count >> 2, l.kind >> 2];
  const held = (d: Int32Array, w: number) => d[w] !== 0 && d[w + count]! >= 1 && (d[w + kind]! & l.kindMask) === l.kindRecursive;
  return { step: l.step >> 2, words: Math.ceil(l.bytes / 4), held, owner: l.owner >> 2 };
}

/**
 * glibc's own rwlocks in libc's data (the locale lock) held for writing by one of ours: their
 * writer TID decides whether pthread_rwlock_unlock is a writer's (layout_rules.h, FA_RULE_RWLOCK_*).
 */
function libcRwlockShape(): LockShape {
  const l = layoutRules().rwlock;
  const [readers, writers] = [l.readers >> 2, l.writersFutex >> 2];
  const held = (d: Int32Array, w: number) => (d[w + readers]! & l.wrlocked) !== 0 && (d[w + writers]! & 1) !== 0;
  return { step: l.step >> 2, words: Math.ceil(l.bytes / 4), held, owner: l.curWriter >> 2 };
}

/**
 * Rewrites every owner it can find; returns how many lock words changed. Every list head and
 * every region to scan is read in one process_vm_readv: the clone waits for this.
 */
export function fixOwners(mem: ProcessMemory, layout: LibcLayout, moves: OwnerMove[]): number {
  const regions = [...layout.ldsoRegions, ...layout.libcRwRegions];
  const got = mem.tryReadMany([
    ...moves.map((m) => ({ addr: m.head, len: m.head ? 24 : 0 })),
    ...regions.map((m) => ({ addr: m.start, len: Number(m.end - m.start) })),
  ]);
  let fixed = 0;
  moves.forEach((m, i) => (fixed += fixRobustList(mem, m, got[i], layout)));
  const newOf = new Map(moves.map((m) => [m.oldTid, m.newTid]));
  const contents = got.slice(moves.length);
  const nLdso = layout.ldsoRegions.length;
  if (nLdso) fixed += fixLocksByShape(mem, layout.ldsoRegions, contents.slice(0, nLdso), ldsoLockShape(), newOf);
  if (layout.libcRwRegions.length) fixed += fixLocksByShape(mem, layout.libcRwRegions, contents.slice(nLdso), libcRwlockShape(), newOf);
  return fixed;
}
