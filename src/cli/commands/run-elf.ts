// What the program file says before it is started under the agent:
// - statically linked (no PT_INTERP: a pure-Go binary built without cgo, a
//   static musl program): no dynamic loader, so LD_PRELOAD cannot put the
//   agent in it and `forkall run` would wait for an agent that never starts;
// - a Go program (a .go.buildinfo section): Go caches each thread's TID
//   (m.procid) and preempts goroutines with signals sent to those TIDs, so a
//   clone with new TIDs never preempts a goroutine that does not yield (its
//   GC and timers stall): it needs --exact-tids.
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const PT_INTERP = 3;

export interface ElfFacts {
  static: boolean;
  go: boolean;
}

function resolveCommand(cmd: string): string | undefined {
  if (cmd.includes('/')) return cmd;
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const p = join(dir || '.', cmd);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not here
    }
  }
  return undefined;
}

function read(fd: number, offset: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  const n = readSync(fd, b, 0, length, offset);
  return b.subarray(0, n);
}

/** undefined when `cmd` is not an ELF64 executable (a script, not found). */
export function elfFacts(cmd: string): ElfFacts | undefined {
  const path = resolveCommand(cmd);
  if (!path) return undefined;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const h = read(fd, 0, 64);
    if (h.length < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return undefined;
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = read(fd, phoff, phentsize * phnum);
    let interp = false;
    for (let i = 0; i + 4 <= ph.length && i < phnum * phentsize; i += phentsize) interp ||= ph.readUInt32LE(i) === PT_INTERP;
    const shoff = Number(h.readBigUInt64LE(40));
    const shentsize = h.readUInt16LE(58);
    const shnum = h.readUInt16LE(60);
    const shstrndx = h.readUInt16LE(62);
    let go = false;
    if (shoff && shnum && shstrndx < shnum) {
      const sh = read(fd, shoff, shentsize * shnum);
      const strOff = Number(sh.readBigUInt64LE(shstrndx * shentsize + 24));
      const strSize = Number(sh.readBigUInt64LE(shstrndx * shentsize + 32));
      const names = read(fd, strOff, Math.min(strSize, 1 << 20));
      for (let i = 0; i < shnum; i++) {
        const at = sh.readUInt32LE(i * shentsize);
        const end = names.indexOf(0, at);
        const name = names.toString('latin1', at, end < 0 ? names.length : end);
        if (name === '.go.buildinfo') go = true;
      }
    }
    return { static: !interp, go };
  } catch {
    return undefined;
  } finally {
    closeSync(fd);
  }
}

export function staticRefusal(cmd: string): string {
  return (
    `${cmd} is statically linked (no dynamic loader: a pure-Go binary built without cgo, a static musl program): ` +
    `LD_PRELOAD cannot load the agent into it, so forkall run cannot freeze it.\n` +
    `Clone it from outside instead: start it, then forkall clone -p PID (the remote engine; --exact-tids for Go, which caches thread IDs), ` +
    `or rebuild it dynamically linked (Go: CGO_ENABLED=1 with an import "C").`
  );
}

export function goRefusal(cmd: string, command: string[]): string {
  return (
    `${cmd} is a Go program: Go caches each thread's ID (m.procid) and preempts goroutines with signals sent to it, ` +
    `so in a clone with new thread IDs a goroutine that never yields is never preempted and the clone stalls (GC, timers).\n` +
    `Run it with exact thread IDs (each clone keeps the template's PID and TIDs, in a PID namespace of its own): forkall run --exact-tids ... -- ${command.join(' ')}`
  );
}
