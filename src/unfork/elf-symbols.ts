// Symbols of an ELF file on disk (.dynsym and, when not stripped, .symtab),
// and the address the file's first segment was linked at, to turn a symbol
// value into an address with the load bias read from /proc/PID/maps.
import { readFileSync } from 'node:fs';

export interface ElfSymbol {
  value: bigint;
  size: bigint;
  type: number; // STT_*: 0 notype, 1 object, 2 func, 6 tls, 10 gnu ifunc
  global: boolean;
}

export interface ElfSymbols {
  /** ET_DYN (a shared object or PIE) is loaded at a bias; ET_EXEC is not */
  dynamic: boolean;
  /** lowest PT_LOAD address, page-aligned (the mapping at file offset 0 holds it) */
  firstVaddr: bigint;
  symbols: Map<string, ElfSymbol>;
}

const SHT_SYMTAB = 2;
const SHT_DYNSYM = 11;

export function readElfSymbols(path: string): ElfSymbols | undefined {
  let f: Buffer;
  try {
    f = readFileSync(path);
  } catch {
    return undefined;
  }
  if (f.length < 64 || f.readUInt32BE(0) !== 0x7f454c46 || f[4] !== 2 || f[5] !== 1) return undefined; // ELF64 LE only
  const type = f.readUInt16LE(16);
  const phoff = Number(f.readBigUInt64LE(32));
  const shoff = Number(f.readBigUInt64LE(40));
  const phentsize = f.readUInt16LE(54);
  const phnum = f.readUInt16LE(56);
  const shentsize = f.readUInt16LE(58);
  const shnum = f.readUInt16LE(60);
  let firstVaddr: bigint | undefined;
  for (let i = 0; i < phnum; i++) {
    const p = phoff + i * phentsize;
    if (f.readUInt32LE(p) !== 1) continue; // PT_LOAD
    const vaddr = f.readBigUInt64LE(p + 16) & ~0xfffn;
    if (firstVaddr === undefined || vaddr < firstVaddr) firstVaddr = vaddr;
  }
  const symbols = new Map<string, ElfSymbol>();
  const sh = (i: number) => shoff + i * shentsize;
  // .dynsym first: on a name clash its (exported) symbol wins over a local one.
  for (const want of [SHT_DYNSYM, SHT_SYMTAB]) {
    for (let i = 0; i < shnum && shoff; i++) {
      if (f.readUInt32LE(sh(i) + 4) !== want) continue;
      const off = Number(f.readBigUInt64LE(sh(i) + 24));
      const size = Number(f.readBigUInt64LE(sh(i) + 32));
      const strSec = f.readUInt32LE(sh(i) + 40);
      const strOff = Number(f.readBigUInt64LE(sh(strSec) + 24));
      for (let s = off; s + 24 <= off + size; s += 24) {
        const shndx = f.readUInt16LE(s + 6);
        const value = f.readBigUInt64LE(s + 8);
        if (shndx === 0 || value === 0n) continue; // undefined here
        const info = f[s + 4]!;
        const nameAt = strOff + f.readUInt32LE(s);
        const name = f.toString('latin1', nameAt, f.indexOf(0, nameAt));
        const global = info >> 4 !== 0;
        const prev = symbols.get(name);
        if (!name || (prev && (prev.global || !global))) continue;
        symbols.set(name, { value, size: f.readBigUInt64LE(s + 16), type: info & 15, global });
      }
    }
  }
  return { dynamic: type === 3, firstVaddr: firstVaddr ?? 0n, symbols };
}
