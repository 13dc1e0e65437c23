// The dynamic symbol table of an object as it is loaded in the target's
// memory (when its file cannot be read: gone, another mount namespace, a
// memfd): ELF header → program headers → PT_DYNAMIC → DT_SYMTAB, DT_STRTAB and
// DT_HASH / DT_GNU_HASH (for the number of symbols).
import type { ElfSymbol, ElfSymbols } from './elf-symbols.js';
import type { TargetMemory } from './memory.js';

const DT_HASH = 4n;
const DT_STRTAB = 5n;
const DT_SYMTAB = 6n;
const DT_GNU_HASH = 0x6ffffef5n;

/** Number of .dynsym entries from DT_GNU_HASH: one past the last symbol any chain reaches. */
function gnuHashCount(mem: TargetMemory, at: bigint): number {
  const h = mem.read(at, 16);
  const nbuckets = h.readUInt32LE(0);
  const symoffset = h.readUInt32LE(4);
  const bloomSize = h.readUInt32LE(8);
  const buckets = mem.read(at + 16n + BigInt(bloomSize) * 8n, nbuckets * 4);
  let last = 0;
  for (let i = 0; i < nbuckets; i++) last = Math.max(last, buckets.readUInt32LE(i * 4));
  if (last < symoffset) return symoffset;
  const chains = at + 16n + BigInt(bloomSize) * 8n + BigInt(nbuckets) * 4n;
  while ((mem.u32(chains + BigInt(last - symoffset) * 4n) & 1) === 0) last++;
  return last + 1;
}

/** The object whose ELF header is mapped at `base`, or undefined if it is not readable as one. */
export function readElfSymbolsFromMemory(mem: TargetMemory, base: bigint): ElfSymbols | undefined {
  try {
    const eh = mem.read(base, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2) return undefined;
    const dynamic = eh.readUInt16LE(16) === 3;
    const phoff = eh.readBigUInt64LE(32);
    const phnum = eh.readUInt16LE(56);
    const ph = mem.read(base + phoff, phnum * 56);
    let firstVaddr: bigint | undefined;
    let dynVaddr: bigint | undefined;
    for (let i = 0; i < phnum; i++) {
      const type = ph.readUInt32LE(i * 56);
      const vaddr = ph.readBigUInt64LE(i * 56 + 16);
      if (type === 1 && (firstVaddr === undefined || (vaddr & ~0xfffn) < firstVaddr)) firstVaddr = vaddr & ~0xfffn;
      if (type === 2) dynVaddr = vaddr;
    }
    if (dynVaddr === undefined) return undefined;
    const bias = dynamic ? base - (firstVaddr ?? 0n) : 0n;
    // glibc rewrites these pointers to addresses when it loads an object; musl leaves them as linked
    const ptr = (v: bigint) => (v >= base ? v : v + bias);
    const tags = new Map<bigint, bigint>();
    for (let at = bias + dynVaddr, n = 0; n < 1000; at += 16n, n++) {
      const e = mem.read(at, 16);
      const tag = e.readBigUInt64LE(0);
      if (tag === 0n) break;
      tags.set(tag, e.readBigUInt64LE(8));
    }
    const symtab = tags.get(DT_SYMTAB);
    const strtab = tags.get(DT_STRTAB);
    if (symtab === undefined || strtab === undefined) return undefined;
    let count = 0;
    if (tags.has(DT_HASH)) count = mem.u32(ptr(tags.get(DT_HASH)!) + 4n);
    else if (tags.has(DT_GNU_HASH)) count = gnuHashCount(mem, ptr(tags.get(DT_GNU_HASH)!));
    const syms = mem.read(ptr(symtab), count * 24);
    const symbols = new Map<string, ElfSymbol>();
    for (let o = 0; o < syms.length; o += 24) {
      const shndx = syms.readUInt16LE(o + 6);
      const value = syms.readBigUInt64LE(o + 8);
      if (shndx === 0 || value === 0n) continue;
      const info = syms[o + 4]!;
      const nameBuf = mem.read(ptr(strtab) + BigInt(syms.readUInt32LE(o)), 256);
      const name = nameBuf.toString('latin1', 0, nameBuf.indexOf(0));
      if (name && !symbols.has(name)) symbols.set(name, { value, size: syms.readBigUInt64LE(o + 16), type: info & 15, global: info >> 4 !== 0 });
    }
    return { dynamic, firstVaddr: firstVaddr ?? 0n, symbols };
  } catch {
    return undefined;
  }
}
