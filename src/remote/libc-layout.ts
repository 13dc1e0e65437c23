// What the remote engine (and `forkall doctor -p`) learns about a target's C
// library from outside, by the shared rules of native/src/layout_rules.h:
// which libc it is (by the files it maps and, for a static program, by marks
// in its executable — not by map names alone), where each thread's
// descriptor keeps its TID, where musl keeps a thread's owned-lock list and
// where a listed lock's word is, and where ld.so's locks live. Whatever
// cannot be found becomes a warning that says what a clone then leaves undone.
import { closeSync, openSync, readSync, fstatSync } from 'node:fs';
import { basename } from 'node:path';
import { layoutRules } from './layout-rules.js';
import type { ProcessMemory } from './memory.js';
import type { Mapping } from './syscall-insn.js';

export type LibcKind = 'glibc' | 'musl' | 'unknown';

export interface LibcIdentity {
  kind: LibcKind;
  linkage: 'dynamic' | 'static';
  /** e.g. "2.36", "1.2.3"; undefined when the files do not say */
  version?: string;
  /** how it was told: the file or mark that decided */
  evidence: string;
}

/** The per-thread facts discovery needs, read from the stopped thread. */
export interface ThreadFacts {
  tid: number;
  fsBase: bigint;
  clearChildTid: bigint;
  /** the kernel's robust list head (0: none registered) */
  robustHead: bigint;
}

export interface LibcLayout {
  libc: LibcIdentity;
  /** offset of the descriptor's TID field from the thread pointer (-1: not found) */
  descTidOffset: number;
  /** per TID: address of its descriptor's TID field (0: not found) */
  tidField: Map<number, bigint>;
  /** musl: offset of the owner-list head from the thread pointer (-1: not found / not musl) */
  ownerListOffset: number;
  /** list entry -> lock word when the head does not say (undefined: unknown, or not needed) */
  ownerLockOffset?: number;
  /** glibc: ld.so's writable data, scanned for its recursive locks */
  ldsoRegions: Mapping[];
  /** glibc: libc.so.6's writable data and the .bss right after it (its own rwlocks: the locale lock) */
  libcRwRegions: Mapping[];
  /** what could not be found and what that costs a clone with new TIDs */
  warnings: string[];
}

const MAX_FILE_BYTES = 256 << 20;

/** Reads a file (at most 256 MB); undefined when it cannot be read. */
function readFileBytes(path: string): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = Math.min(fstatSync(fd).size, MAX_FILE_BYTES);
    const b = Buffer.alloc(size);
    let off = 0;
    while (off < size) {
      const n = readSync(fd, b, off, size - off, off);
      if (n <= 0) break;
      off += n;
    }
    return b.subarray(0, off);
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The first `n` bytes of a file; undefined when it cannot be read. */
function readFileHead(path: string, n: number): Buffer | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0));
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

function glibcVersion(bytes: Buffer | undefined): string | undefined {
  if (!bytes) return undefined;
  const r = layoutRules();
  const at = bytes.indexOf(r.glibcBanner);
  if (at < 0) return undefined;
  const text = bytes.subarray(at, at + 256).toString('latin1');
  return /release version (\d+\.\d+(?:\.\d+)?)/.exec(text)?.[1];
}

function muslVersion(bytes: Buffer | undefined): string | undefined {
  if (!bytes) return undefined;
  const r = layoutRules();
  const fromPath = /musl-(\d+\.\d+\.\d+)/.exec(bytes.toString('latin1', 0, bytes.length))?.[1];
  if (fromPath) return fromPath;
  const at = bytes.indexOf(r.muslVersionTag);
  if (at < 0) return undefined;
  // musl's dynamic linker keeps its version as a string of its own after the tag
  return /\0(\d+\.\d+\.\d+)\0/.exec(bytes.subarray(at, at + 65536).toString('latin1'))?.[1];
}

/** The musl version recorded in an executable or library file, if any. */
export const muslVersionOf = (path: string): string | undefined => muslVersion(readFileBytes(path));

/**
 * Which C library process `pid` runs (maps: its /proc/<pid>/maps). The
 * version of a dynamic libc costs a read of its file: only with `withVersion`
 * (the doctor asks; a clone does not need it).
 */
export function identifyLibc(pid: number, maps: Mapping[], withVersion = false): LibcIdentity {
  const r = layoutRules();
  const versionOf = (path: string, read: (b: Buffer | undefined) => string | undefined) => (withVersion ? read(readFileBytes(path)) : undefined);
  const glibc = maps.find((m) => basename(m.path) === r.glibcSoname);
  if (glibc) return { kind: 'glibc', linkage: 'dynamic', version: versionOf(glibc.path, glibcVersion), evidence: `maps ${glibc.path}` };
  const musl = maps.find((m) => basename(m.path).startsWith(r.muslLdso));
  if (musl) return { kind: 'musl', linkage: 'dynamic', version: versionOf(musl.path, muslVersion), evidence: `maps ${musl.path}` };
  const head = readFileHead(`/proc/${pid}/exe`, r.interpBytes);
  const interp = head ? /\/[^\0]*ld-musl-[^\0]*/.exec(head.toString('latin1'))?.[0] : undefined;
  if (interp) {
    // musl's libc and dynamic linker are one file; maps may show it by its real name
    const lib = maps.find((m) => m.perms.includes('x') && /\/(libc\.so|ld-musl-[^/]*)$/.test(m.path));
    return { kind: 'musl', linkage: 'dynamic', version: lib ? versionOf(lib.path, muslVersion) : undefined, evidence: `interpreter ${interp}${lib ? `, maps ${lib.path}` : ''}` };
  }
  const exe = readFileBytes(`/proc/${pid}/exe`);
  if (!exe) return { kind: 'unknown', linkage: 'static', evidence: `maps no known libc and /proc/${pid}/exe cannot be read` };
  const mark = r.glibcStaticMarks.find((m) => exe.includes(m));
  if (mark) return { kind: 'glibc', linkage: 'static', version: glibcVersion(exe), evidence: `static executable holds glibc's "${mark}"` };
  if (exe.includes(r.muslMark)) return { kind: 'musl', linkage: 'static', version: muslVersion(exe), evidence: `static executable holds musl's "${r.muslMark}" symbol` };
  return { kind: 'unknown', linkage: 'static', evidence: 'a static executable without glibc\'s or musl\'s marks (stripped musl, or another libc)' };
}

/**
 * The offset of the descriptor's TID field from the thread pointer, found on
 * the first thread where a rule applies (as the in-process engine finds it on
 * the thread that loads it): glibc's clear_child_tid address when it lies in
 * the descriptor and holds the TID; musl's first aligned int near the thread
 * pointer that holds it. -1 when no rule applies (then nothing is written).
 */
export function findDescTidOffset(mem: ProcessMemory, kind: LibcKind, threads: ThreadFacts[]): number {
  const r = layoutRules();
  for (const { tid, fsBase, clearChildTid } of threads) {
    if (!fsBase) continue;
    if (clearChildTid >= fsBase && clearChildTid < fsBase + BigInt(r.tidAddrMax)) {
      const at = mem.tryRead(clearChildTid, 4);
      if (at && at.readInt32LE(0) === tid) return Number(clearChildTid - fsBase);
    }
    if (kind !== 'musl') continue; // the scan is musl's rule: elsewhere an int that happens to equal the TID is no TID field
    const desc = mem.tryRead(fsBase, r.descTidScan.end);
    if (!desc) continue;
    for (let off = r.descTidScan.start; off + 4 <= desc.length; off += r.descTidScan.step) if (desc.readInt32LE(off) === tid) return off;
  }
  return -1;
}

/** Where thread `t`'s descriptor keeps its TID: fs_base + offset when that int holds the TID, else 0n. */
export function tidFieldAt(mem: ProcessMemory, t: ThreadFacts, offset: number): bigint {
  if (offset < 0 || !t.fsBase) return 0n;
  const addr = t.fsBase + BigInt(offset);
  return mem.tryRead(addr, 4)?.readInt32LE(0) === t.tid ? addr : 0n;
}

/** tidFieldAt of every thread, their ints read at once (the target is held: every call counts). */
export function tidFieldsAt(mem: ProcessMemory, threads: ThreadFacts[], offset: number): bigint[] {
  const addrs = threads.map((t) => (offset < 0 || !t.fsBase ? 0n : t.fsBase + BigInt(offset)));
  const ints = mem.tryReadMany(addrs.map((addr) => ({ addr, len: addr ? 4 : 0 })));
  return threads.map((t, i) => (addrs[i] && ints[i]?.length === 4 && ints[i]!.readInt32LE(0) === t.tid ? addrs[i]! : 0n));
}

/** Entries of the list at `head` (at most the rules' limit), following next pointers. */
export function listEntries(mem: ProcessMemory, head: bigint): bigint[] {
  const r = layoutRules();
  const out: bigint[] = [];
  let entry = mem.tryRead(head, 8)?.readBigUInt64LE(0) ?? 0n;
  while (entry && entry !== head && out.length < r.ownerListLimit) {
    out.push(entry);
    const next = mem.tryRead(entry, 8);
    if (!next) break;
    entry = next.readBigUInt64LE(0);
  }
  return out;
}

/** musl's owner-list head: the first offset that points at itself in some thread's descriptor. */
function findOwnerListOffset(mem: ProcessMemory, threads: ThreadFacts[]): number {
  const r = layoutRules();
  let best = -1;
  for (const t of threads) {
    const d = t.fsBase ? mem.tryRead(t.fsBase, r.ownerListScan.end) : undefined;
    if (!d) continue;
    for (let off = r.ownerListScan.start; off + 8 <= d.length; off += r.ownerListScan.step) {
      if (d.readBigUInt64LE(off) !== t.fsBase + BigInt(off)) continue;
      if (best < 0 || off < best) best = off;
      break; // the first candidate; a held lock on it confirms it (findOwnerLockOffset)
    }
  }
  return best;
}

/** The lock word's place relative to a list entry: the offset at which every listed lock holds its owner's TID. */
function findOwnerLockOffset(mem: ProcessMemory, lists: { tid: number; entries: bigint[] }[]): number | undefined {
  const r = layoutRules();
  for (let d = -r.ownerLockWindow; d < r.ownerLockWindow; d += 4) {
    const all = lists.every(({ tid, entries }) =>
      entries.every((e) => {
        const w = mem.tryRead(e + BigInt(d), 4);
        return w !== undefined && (w.readInt32LE(0) & r.futexTidMask) === tid;
      }),
    );
    if (all) return d;
  }
  return undefined;
}

/** Everything the owner rewrite and the descriptors' TIDs need, with a warning for each thing not found. */
/** libc.so.6's writable mapping and, right after it, its .bss (an anonymous mapping that begins where the file's ends). */
function libcWritableData(maps: Mapping[], soname: string): Mapping[] {
  const i = maps.findIndex((m) => basename(m.path) === soname && m.perms.startsWith('rw'));
  if (i < 0) return [];
  const next = maps[i + 1];
  return next && next.start === maps[i]!.end && !next.path && next.perms.startsWith('rw') ? [maps[i]!, next] : [maps[i]!];
}

export function discoverLayout(pid: number, mem: ProcessMemory, maps: Mapping[], threads: ThreadFacts[], withVersion = false, known?: LibcIdentity): LibcLayout {
  const r = layoutRules();
  const libc = known ?? identifyLibc(pid, maps, withVersion); // `known`: identified by the caller already
  const warnings: string[] = [];
  const descTidOffset = findDescTidOffset(mem, libc.kind, threads);
  const fields = tidFieldsAt(mem, threads, descTidOffset);
  const tidField = new Map(threads.map((t, i) => [t.tid, fields[i]!]));
  const lost = threads.filter((t) => !tidField.get(t.tid)).map((t) => t.tid);
  if (lost.length)
    warnings.push(`PID ${pid}: the TID field of the libc thread descriptor was not found for thread(s) ${lost.join(', ')}: with new TIDs their descriptors keep the old TIDs`);
  let ownerListOffset = -1;
  let ownerLockOffset: number | undefined;
  let ldsoRegions: Mapping[] = [];
  let libcRwRegions: Mapping[] = [];
  if (libc.kind === 'unknown') {
    warnings.push(`PID ${pid}: its C library was not recognised (${libc.evidence}): with new TIDs, only lock owners on kernel-registered robust lists are rewritten`);
  } else if (libc.kind === 'musl') {
    ownerListOffset = findOwnerListOffset(mem, threads);
    if (ownerListOffset < 0) {
      if (threads.some((t) => !t.robustHead))
        warnings.push(`PID ${pid}: musl's per-thread owner list was not found: with new TIDs, owners of recursive, errorcheck and PI mutexes held by a non-forking thread are not rewritten`);
    } else {
      const lists = threads
        .filter((t) => !t.robustHead && t.fsBase)
        .map((t) => ({ tid: t.tid, entries: listEntries(mem, t.fsBase + BigInt(ownerListOffset)) }))
        .filter((l) => l.entries.length);
      if (lists.length) {
        ownerLockOffset = findOwnerLockOffset(mem, lists);
        if (ownerLockOffset === undefined)
          warnings.push(`PID ${pid}: the lock word of the mutexes on musl's owner list of thread(s) ${lists.map((l) => l.tid).join(', ')} was not found: their owners are not rewritten`);
      }
    }
  } else if (libc.linkage === 'dynamic') {
    ldsoRegions = maps.filter((m) => basename(m.path).startsWith(r.glibcLdso) && m.perms.startsWith('rw'));
    if (!ldsoRegions.length) warnings.push(`PID ${pid}: ld.so's writable data was not found: with new TIDs, its recursive locks keep their old owners`);
    libcRwRegions = libcWritableData(maps, r.glibcSoname);
  } else {
    warnings.push(`PID ${pid}: a static glibc program: ld.so's recursive locks live in its own data and are not looked for; with new TIDs, a dlopen/TLS lock held by a non-forking thread keeps its old owner`);
  }
  return { libc, descTidOffset, tidField, ownerListOffset, ownerLockOffset, ldsoRegions, libcRwRegions, warnings };
}
