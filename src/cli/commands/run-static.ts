// A statically linked program (a pure-Go binary built without cgo, a static
// musl binary) has no dynamic loader: LD_PRELOAD cannot put the agent in it
// and `forkall run` would wait for an agent that never starts. Detected
// before starting it, from the ELF program headers (no PT_INTERP).
import { closeSync, openSync, readSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';

const PT_INTERP = 3;

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

/** true when `cmd` is an ELF executable without a dynamic loader; false when it has one or is not ELF (a script). */
export function isStaticElf(cmd: string): boolean {
  const path = resolveCommand(cmd);
  if (!path) return false;
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return false;
  }
  try {
    const h = Buffer.alloc(64);
    if (readSync(fd, h, 0, 64, 0) < 64 || h.readUInt32BE(0) !== 0x7f454c46 || h[4] !== 2) return false; // ELF64 only
    const phoff = Number(h.readBigUInt64LE(32));
    const phentsize = h.readUInt16LE(54);
    const phnum = h.readUInt16LE(56);
    const ph = Buffer.alloc(phentsize * phnum);
    readSync(fd, ph, 0, ph.length, phoff);
    for (let i = 0; i < phnum; i++) if (ph.readUInt32LE(i * phentsize) === PT_INTERP) return false;
    return true;
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
