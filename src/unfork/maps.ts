// /proc/PID/maps as records, and how each mapping is imported by the helper.
import { readFileSync, statSync } from 'node:fs';

export interface Mapping {
  start: bigint;
  end: bigint;
  perms: string; // e.g. "r-xp"
  offset: bigint;
  inode: number;
  path: string; // "" for anonymous memory, "[heap]", "[vdso]", a file path
}

export function readMaps(pid: number): Mapping[] {
  const text = readFileSync(`/proc/${pid}/maps`, 'utf8');
  const out: Mapping[] = [];
  for (const line of text.split('\n')) {
    const m = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) ([0-9a-f]+) \S+ (\d+)\s*(.*)$/.exec(line);
    if (!m) continue;
    out.push({ start: BigInt('0x' + m[1]), end: BigInt('0x' + m[2]), perms: m[3]!, offset: BigInt('0x' + m[4]), inode: Number(m[5]), path: m[6] ?? '' });
  }
  return out;
}

export const protOf = (perms: string): number => (perms[0] === 'r' ? 1 : 0) | (perms[1] === 'w' ? 2 : 0) | (perms[2] === 'x' ? 4 : 0);

/** The special mappings the kernel makes; the helper moves its own onto the target's. */
export const isKernelSpecial = (p: string): boolean => p === '[vdso]' || p.startsWith('[vvar');

/** True when the mapping's file is still the one mapped (same inode), so it can be mapped again. */
function sameFile(m: Mapping): boolean {
  if (!m.path.startsWith('/') || m.path.endsWith(' (deleted)')) return false;
  try {
    return statSync(m.path).ino === m.inode;
  } catch {
    return false;
  }
}

/**
 * The helper's "map" line for a mapping, or undefined when it is not imported.
 * Kinds: f = private executable file text, mapped again from the file (it is
 * what the target has unless a debugger patched it); a = every other readable
 * range, imported page by page through userfaultfd (writable data, RELRO,
 * heap, stacks, shared memory as a private copy); z = the same for memory
 * that is anonymous in the target too (a page it never touched, by its
 * pagemap, is served as zeros without reading it); n = PROT_NONE, only
 * reserved; s = the kernel's [vdso]/[vvar].
 */
export function mapLine(m: Mapping): string | undefined {
  if (m.path === '[vsyscall]') return undefined; // same fixed address in every process
  const range = `${m.start.toString(16)} ${m.end.toString(16)}`;
  const prot = protOf(m.perms);
  if (isKernelSpecial(m.path)) return `map ${range} ${prot} s 0 ${Buffer.from(m.path).toString('hex')}`;
  if (prot === 0) return `map ${range} 0 n 0`;
  if (m.perms === 'r-xp' && sameFile(m)) return `map ${range} ${prot} f ${m.offset.toString(16)} ${Buffer.from(m.path).toString('hex')}`;
  // anonymous in the target too: a page it never touched is served as zeros without reading it
  const anonymous = m.inode === 0 && (m.path === '' || m.path === '[heap]' || m.path === '[stack]');
  return `map ${range} ${prot} ${anonymous ? 'z' : 'a'} 0`;
}
