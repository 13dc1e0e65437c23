// The libc layout rules, read from the one file that holds them for every
// engine: native/src/layout_rules.h (the in-process engine compiles it in).
// Only `#define FA_RULE_<NAME> <integer or "string">` lines count; a missing
// rule is an error naming the file, never a silent default.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { packageRoot } from '../native/paths.js';

export const rulesFile = join(packageRoot, 'native', 'src', 'layout_rules.h');

/** Every FA_RULE_* definition of a header text, name without the prefix. */
export function parseRules(text: string): Map<string, number | string> {
  const rules = new Map<string, number | string>();
  for (const m of text.matchAll(/^#define FA_RULE_([A-Z0-9_]+)[ \t]+(0x[0-9a-fA-F]+|-?\d+|"[^"\\]*")[ \t]*$/gm)) {
    const v = m[2]!;
    rules.set(m[1]!, v.startsWith('"') ? v.slice(1, -1) : Number(v));
  }
  return rules;
}

/** The rules an engine needs, from a header's text; a missing or mistyped rule throws, naming `source`. */
export function rulesFrom(text: string, source = rulesFile) {
  const all = parseRules(text);
  const num = (name: string): number => {
    const v = all.get(name);
    if (typeof v !== 'number') throw new Error(`${source}: rule FA_RULE_${name} is missing or not a number`);
    return v;
  };
  const str = (name: string): string => {
    const v = all.get(name);
    if (typeof v !== 'string') throw new Error(`${source}: rule FA_RULE_${name} is missing or not a string`);
    return v;
  };
  return {
    tidAddrMax: num('TID_ADDR_MAX'),
    descTidScan: { start: num('DESC_TID_SCAN_START'), end: num('DESC_TID_SCAN_END'), step: num('DESC_TID_SCAN_STEP') },
    ownerListScan: { start: num('OWNER_LIST_SCAN_START'), end: num('OWNER_LIST_SCAN_END'), step: num('OWNER_LIST_SCAN_STEP'), maxCandidates: num('OWNER_LIST_MAX_CANDIDATES') },
    ownerLockWindow: num('OWNER_LOCK_WINDOW'),
    futexTidMask: num('FUTEX_TID_MASK'),
    ownerListLimit: num('OWNER_LIST_LIMIT'),
    glibcMutexOwner: num('GLIBC_MUTEX_OWNER'),
    ldsoLock: {
      step: num('LDSO_LOCK_STEP'),
      bytes: num('LDSO_LOCK_BYTES'),
      count: num('LDSO_LOCK_COUNT'),
      owner: num('LDSO_LOCK_OWNER'),
      kind: num('LDSO_LOCK_KIND'),
      kindMask: num('LDSO_LOCK_KIND_MASK'),
      kindRecursive: num('LDSO_LOCK_KIND_RECURSIVE'),
    },
    rwlock: {
      step: num('RWLOCK_STEP'),
      bytes: num('RWLOCK_BYTES'),
      readers: num('RWLOCK_READERS'),
      wrlocked: num('RWLOCK_WRLOCKED'),
      wrphaseFutex: num('RWLOCK_WRPHASE_FUTEX'),
      writersFutex: num('RWLOCK_WRITERS_FUTEX'),
      futexMax: num('RWLOCK_FUTEX_MAX'),
      pad: num('RWLOCK_PAD'),
      curWriter: num('RWLOCK_CUR_WRITER'),
    },
    glibcSoname: str('GLIBC_SONAME'),
    glibcLdso: str('GLIBC_LDSO'),
    muslLdso: str('MUSL_LDSO'),
    interpBytes: num('INTERP_BYTES'),
    glibcStaticMarks: [str('GLIBC_STATIC_MARK_1'), str('GLIBC_STATIC_MARK_2')],
    glibcBanner: str('GLIBC_BANNER'),
    muslMark: str('MUSL_MARK'),
    muslVersionTag: str('MUSL_VERSION_TAG'),
  };
}

export type LayoutRules = ReturnType<typeof rulesFrom>;

let cached: LayoutRules | undefined;
/** The rules, read from native/src/layout_rules.h once per process. */
export function layoutRules(): LayoutRules {
  return (cached ??= rulesFrom(readFileSync(rulesFile, 'utf8')));
}
