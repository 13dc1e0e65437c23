// Where to find a `syscall` instruction (0f 05) in the target to run injected
// calls from: the vDSO has one in its fallback paths, and it is mapped in
// every process at an address only the process knows, so read it from maps.
import { readFileSync } from 'node:fs';
import type { ProcessMemory } from './memory.js';

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string;
  path: string;
}

export function readMaps(pid: number): Mapping[] {
  return readFileSync(`/proc/${pid}/maps`, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const [range, perms, , , , ...rest] = line.split(/\s+/);
      const [s, e] = range!.split('-');
      return { start: BigInt('0x' + s), end: BigInt('0x' + e), perms: perms!, path: rest.join(' ') };
    });
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
