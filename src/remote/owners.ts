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

function fixRobustList(mem: ProcessMemory, m: OwnerMove, layout: LibcLayout): number {
  const r = layoutRules();
  const h = m.head ? mem.tryRead(m.head, 24) : undefined;
  if (!h) return 0;
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

/** A lock found by shape in a region: is the candidate at `off` held, and where is its owner TID. */
interface LockShape {
  step: number;
  bytes: number;
  held: (data: Buffer, off: number) => boolean;
  owner: number;
}

/** Rewrites the owner TID of every held lock of that shape whose owner is one of ours. */
function fixLocksByShape(mem: ProcessMemory, regions: Mapping[], shape: LockShape, newOf: Map<number, number>): number {
  let fixed = 0;
  for (const m of regions) {
    const data = mem.tryRead(m.start, Number(m.end - m.start));
    if (!data) continue;
    for (let off = 0; off + shape.bytes <= data.length; off += shape.step) {
      if (!shape.held(data, off)) continue;
      const n = newOf.get(data.readInt32LE(off + shape.owner));
      if (n === undefined) continue;
      const b = Buffer.alloc(4);
      b.writeInt32LE(n, 0);
      mem.write(m.start + BigInt(off + shape.owner), b);
      fixed++;
    }
  }
  return fixed;
}

/** ld.so's recursive pthread mutexes: __lock != 0, __count >= 1, __owner one of ours, kind recursive. */
function ldsoLockShape(): LockShape {
  const l = layoutRules().ldsoLock;
  const held = (d: Buffer, off: number) => d.readInt32LE(off) !== 0 && d.readInt32LE(off + l.count) >= 1 && (d.readInt32LE(off + l.kind) & l.kindMask) === l.kindRecursive;
  return { step: l.step, bytes: l.bytes, held, owner: l.owner };
}

/**
 * glibc's own rwlocks in libc's data (the locale lock) held for writing by one of ours: their
 * writer TID decides whether pthread_rwlock_unlock is a writer's (layout_rules.h, FA_RULE_RWLOCK_*).
 */
function libcRwlockShape(): LockShape {
  const l = layoutRules().rwlock;
  const held = (d: Buffer, off: number) => (d.readInt32LE(off + l.readers) & l.wrlocked) !== 0 && (d.readInt32LE(off + l.writersFutex) & 1) !== 0;
  return { step: l.step, bytes: l.bytes, held, owner: l.curWriter };
}

/** Rewrites every owner it can find; returns how many lock words changed. */
export function fixOwners(mem: ProcessMemory, layout: LibcLayout, moves: OwnerMove[]): number {
  let fixed = 0;
  for (const m of moves) fixed += fixRobustList(mem, m, layout);
  const newOf = new Map(moves.map((m) => [m.oldTid, m.newTid]));
  if (layout.ldsoRegions.length) fixed += fixLocksByShape(mem, layout.ldsoRegions, ldsoLockShape(), newOf);
  if (layout.libcRwRegions.length) fixed += fixLocksByShape(mem, layout.libcRwRegions, libcRwlockShape(), newOf);
  return fixed;
}
