// Resolves a symbol of the target to an address: the ELF files it has mapped
// (as /proc/PID/maps names them) are read from disk, their load bias comes
// from where their offset-0 page is mapped. The executable is searched first,
// then every other object in address order, like a global symbol lookup.
import { existsSync, readlinkSync } from 'node:fs';
import { readElfSymbols, type ElfSymbols } from './elf-symbols.js';
import { readElfSymbolsFromMemory } from './elf-memory.js';
import type { Mapping } from './maps.js';
import type { TargetMemory } from './memory.js';

export interface ResolvedSymbol {
  address: bigint;
  size: bigint;
  type: number;
  object: string;
}

interface LoadedObject {
  path: string;
  bias: bigint;
  elf: ElfSymbols;
}

/**
 * Where to read a mapped object's file: through the target's own root (it may
 * live in another mount namespace); a deleted executable through
 * /proc/PID/exe, a deleted library through /proc/PID/map_files (root only).
 */
function elfFileOf(pid: number, m: Mapping, isExe: boolean): string {
  if (m.path.endsWith(' (deleted)')) return isExe ? `/proc/${pid}/exe` : `/proc/${pid}/map_files/${m.start.toString(16)}-${m.end.toString(16)}`;
  const viaRoot = `/proc/${pid}/root${m.path}`;
  return existsSync(viaRoot) ? viaRoot : m.path;
}

export class SymbolResolver {
  private readonly objects: LoadedObject[] = [];

  /** `mem`: read the dynamic symbols from the loaded image when a file cannot be read (`fromMemory`: always) */
  constructor(pid: number, maps: Mapping[], mem?: TargetMemory, fromMemory = false) {
    let exe = '';
    try {
      exe = readlinkSync(`/proc/${pid}/exe`);
    } catch {
      // unreadable: no preference
    }
    const seen = new Set<string>();
    for (const m of maps) {
      if (!m.path.startsWith('/') || m.offset !== 0n || seen.has(m.path)) continue;
      seen.add(m.path);
      const elf = (fromMemory ? undefined : readElfSymbols(elfFileOf(pid, m, m.path === exe))) ?? (mem ? readElfSymbolsFromMemory(mem, m.start) : undefined);
      if (!elf) continue;
      const obj = { path: m.path, bias: elf.dynamic ? m.start - elf.firstVaddr : 0n, elf };
      if (m.path === exe) this.objects.unshift(obj);
      else this.objects.push(obj);
    }
  }

  /** The symbol's address in the target, or undefined. `name@lib` limits the search to objects whose file name starts with `lib`. */
  resolve(spec: string): ResolvedSymbol | undefined {
    const at = spec.lastIndexOf('@');
    const name = at > 0 ? spec.slice(0, at) : spec;
    const lib = at > 0 ? spec.slice(at + 1) : undefined;
    for (const o of this.objects) {
      if (lib && !o.path.split('/').pop()!.startsWith(lib)) continue;
      const s = o.elf.symbols.get(name);
      if (s && s.type !== 6) return { address: o.bias + s.value, size: s.size, type: s.type, object: o.path };
    }
    return undefined;
  }

  get objectPaths(): string[] {
    return this.objects.map((o) => o.path);
  }
}
