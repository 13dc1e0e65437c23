// Runtimes that keep their threads' TIDs in memory and signal them by number
// break when a clone's threads get new TIDs. Go is one: each M records its
// thread's TID (m.procid) and the scheduler preempts goroutines with
// tgkill(getpid(), m.procid, SIGURG); in a clone with new TIDs those signals
// go to threads that do not exist there (or, worse, to the original's, which
// the clone must never touch) and goroutines stop being preempted and woken.
// Python's asyncio is another: its running loop is looked up only when the
// PID recorded with it is the caller's (its fork check), so in a clone with a
// new PID every coroutine that asks for the running loop fails.
// Such a program is refused unless the clone keeps the PID and TIDs
// (--exact-tids).
import { closeSync, openSync, readFileSync, readSync, statSync } from 'node:fs';
import { RemoteError } from './errors.js';
import type { Mapping } from './syscall-insn.js';

function readAt(fd: number, pos: number, len: number): Buffer {
  const b = Buffer.alloc(len);
  const n = readSync(fd, b, 0, len, pos);
  return b.subarray(0, n);
}

/** Section names of an ELF64 little-endian file (empty when it is not one or has no section headers). */
export function elfSectionNames(path: string): string[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return [];
  }
  try {
    const h = readAt(fd, 0, 64);
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2 || h[5] !== 1) return [];
    const shoff = Number(h.readBigUInt64LE(0x28));
    const shentsize = h.readUInt16LE(0x3a);
    const shnum = h.readUInt16LE(0x3c);
    const shstrndx = h.readUInt16LE(0x3e);
    if (!shoff || !shnum || shentsize < 64 || shstrndx >= shnum) return [];
    const table = readAt(fd, shoff, shnum * shentsize);
    const sh = (i: number) => table.subarray(i * shentsize, (i + 1) * shentsize);
    const strs = sh(shstrndx);
    const names = readAt(fd, Number(strs.readBigUInt64LE(0x18)), Math.min(Number(strs.readBigUInt64LE(0x20)), 1 << 20));
    const out: string[] = [];
    for (let i = 0; i < shnum; i++) {
      const at = sh(i).readUInt32LE(0);
      const end = names.indexOf(0, at);
      out.push(names.subarray(at, end < 0 ? names.length : end).toString('latin1'));
    }
    return out;
  } finally {
    closeSync(fd);
  }
}

/** Go or not, by executable (device, inode, size, mtime): cloning one program again reads no ELF. */
const goByExe = new Map<string, boolean>();

/** Whether `pid` runs a Go executable (its ELF has Go's sections). */
function isGoProgram(pid: number): boolean {
  let key: string;
  try {
    const st = statSync(`/proc/${pid}/exe`);
    key = `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`;
  } catch {
    return false; // gone or not ours to read: preflight or seize reports it
  }
  let go = goByExe.get(key);
  if (go === undefined) {
    const sections = elfSectionNames(`/proc/${pid}/exe`);
    go = sections.includes('.go.buildinfo') || sections.includes('.note.go.buildid') || sections.includes('.gopclntab');
    goByExe.set(key, go);
  }
  return go;
}

/** Whether a process with these mappings has loaded Python's asyncio (its C accelerator). */
export function asyncioLoaded(maps: Mapping[]): boolean {
  return maps.some((m) => /\/_asyncio\.cpython-[^/]*\.so$/.test(m.path));
}

/** The runtime that process `pid` runs and that breaks on a new PID or TIDs, if one is recognised. */
export function tidCachingRuntime(pid: number): 'Go' | 'Python asyncio' | undefined {
  if (isGoProgram(pid)) return 'Go';
  let maps = '';
  try {
    maps = readFileSync(`/proc/${pid}/maps`, 'utf8');
  } catch {
    // gone: preflight or seize reports it
  }
  if (/\/_asyncio\.cpython-[^/\n]*\.so$/m.test(maps)) return 'Python asyncio';
  return undefined;
}

function goRefusal(pid: number): RemoteError {
  return new RemoteError(
    `PID ${pid} is a Go program: the Go runtime keeps each thread's TID and signals threads by it (goroutine preemption), so a clone with new TIDs would hang or signal the original; clone it with --exact-tids (cloneProcess(pid, { exactTids: true })), which keeps every TID`,
    'needs-exact-tids',
  );
}

function asyncioRefusal(pid: number): RemoteError {
  return new RemoteError(
    `PID ${pid} is a Python program that loaded asyncio: asyncio finds its running event loop only in the process whose PID it recorded, so in a clone with a new PID every coroutine that asks for the loop fails; clone it with --exact-tids (cloneProcess(pid, { exactTids: true })), which keeps the PID`,
    'needs-exact-tids',
  );
}

/** Refuses (before anything is stopped) a clone with new TIDs of a runtime that would break on them. */
export function refuseTidCachingRuntime(pid: number): void {
  const rt = tidCachingRuntime(pid);
  if (rt === 'Go') throw goRefusal(pid);
  if (rt === 'Python asyncio') throw asyncioRefusal(pid);
}

/** The Go half of refuseTidCachingRuntime, before anything is stopped (the asyncio half needs the maps). */
export function refuseGoProgram(pid: number): void {
  if (isGoProgram(pid)) throw goRefusal(pid);
}

/** The asyncio half, on the maps read while the process is held (it is then given back untouched). */
export function refuseAsyncio(pid: number, maps: Mapping[]): void {
  if (asyncioLoaded(maps)) throw asyncioRefusal(pid);
}
