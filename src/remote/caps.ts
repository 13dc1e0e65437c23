// A thread's capability state — effective, permitted, inheritable, bounding
// and ambient sets, and the securebits — and how a clone's thread is given
// exactly its original's. Capabilities belong to each thread, and a thread of
// the clone starts with those of whichever thread made it (the forker's copy,
// or in exact mode a process in a new user namespace, which the kernel gives
// FULL effective, permitted and bounding sets, empty inheritable and ambient
// sets and default securebits). So each thread is set, by calls injected into
// it, in an order the kernel accepts:
//   1. capset: permitted and effective as they are (full or the forker's),
//      inheritable = the original's (needs CAP_SETPCAP to add to it);
//   2. PR_CAP_AMBIENT_RAISE for each ambient capability (needs it in P and I);
//   3. PR_SET_SECUREBITS (needs CAP_SETPCAP);
//   4. PR_CAPBSET_DROP for each capability not in the bounding set (needs
//      CAP_SETPCAP);
//   5. capset: effective, permitted, inheritable = the original's (ambient
//      capabilities stay: they are in the final P and I).
// A thread whose original had more than it has now cannot be given them
// (capset never raises the permitted set): the clone fails, naming it.
import { readFileSync } from 'node:fs';
import { readThreadStatus, statusValue } from '../proc/tasks.js';

export interface CapState {
  eff: bigint;
  prm: bigint;
  inh: bigint;
  bnd: bigint;
  amb: bigint;
  /** PR_GET_SECUREBITS; undefined when not read (taken as unchanged) */
  securebits?: number;
}

export const CAP_SYS_ADMIN = 21;
export const CAP_SETPCAP = 8;
export const has = (set: bigint, cap: number): boolean => ((set >> BigInt(cap)) & 1n) === 1n;

/** `status`: the thread's /proc status text when already read (readThreadStatus). */
export function readCapState(pid: number, tid: number, status = readThreadStatus(pid, tid)): CapState {
  const set = (name: string) => BigInt('0x' + (statusValue(status, name) || '0'));
  return { eff: set('CapEff'), prm: set('CapPrm'), inh: set('CapInh'), bnd: set('CapBnd'), amb: set('CapAmb') };
}

export const sameCaps = (a: CapState, b: CapState): boolean =>
  a.eff === b.eff && a.prm === b.prm && a.inh === b.inh && a.bnd === b.bnd && a.amb === b.amb && (a.securebits ?? 0) === (b.securebits ?? 0);

let lastCap: number | undefined;
/** The kernel's highest capability number (read once: it is fixed while the kernel runs). */
export function capLastCap(): number {
  if (lastCap !== undefined) return lastCap;
  try {
    lastCap = Number(readFileSync('/proc/sys/kernel/cap_last_cap', 'utf8').trim());
  } catch {
    lastCap = 40;
  }
  return lastCap;
}

const CAP_VERSION_3 = 0x20080522;

/** capset's two arguments (header, data[2]) as 32 bytes: the header, then the data at +8. */
export function capsetArg(eff: bigint, prm: bigint, inh: bigint): Buffer {
  const b = Buffer.alloc(32);
  b.writeUInt32LE(CAP_VERSION_3, 0);
  for (const [k, shift] of [[0, 0n], [1, 32n]] as const) {
    b.writeUInt32LE(Number((eff >> shift) & 0xffffffffn), 8 + 12 * k);
    b.writeUInt32LE(Number((prm >> shift) & 0xffffffffn), 8 + 12 * k + 4);
    b.writeUInt32LE(Number((inh >> shift) & 0xffffffffn), 8 + 12 * k + 8);
  }
  return b;
}

const PR_CAPBSET_DROP = 24;
const PR_SET_SECUREBITS = 28;
const PR_CAP_AMBIENT = 47;
const PR_CAP_AMBIENT_RAISE = 2;

/** One step of the sequence: a prctl (args) or a capset (its 32-byte argument). */
export type CapStep = { what: string; prctl: (bigint | number)[] } | { what: string; capset: Buffer };

/** The calls that turn a thread with capabilities `now` into one with `want`; [] when equal. */
export function capSteps(now: CapState, want: CapState, lastCap = capLastCap()): CapStep[] {
  if (sameCaps(now, want)) return [];
  const steps: CapStep[] = [];
  const bits = (set: bigint) => [...Array(lastCap + 1).keys()].filter((c) => has(set, c));
  steps.push({ what: 'capset (inheritable)', capset: capsetArg(now.eff, now.prm, want.inh) });
  for (const c of bits(want.amb & ~now.amb)) steps.push({ what: `prctl(PR_CAP_AMBIENT_RAISE, ${c})`, prctl: [PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0] });
  if (want.securebits !== undefined && want.securebits !== (now.securebits ?? 0))
    steps.push({ what: `prctl(PR_SET_SECUREBITS, 0x${want.securebits.toString(16)})`, prctl: [PR_SET_SECUREBITS, want.securebits, 0, 0, 0] });
  for (const c of bits(now.bnd & ~want.bnd)) steps.push({ what: `prctl(PR_CAPBSET_DROP, ${c})`, prctl: [PR_CAPBSET_DROP, c, 0, 0, 0] });
  steps.push({ what: 'capset', capset: capsetArg(want.eff, want.prm, want.inh) });
  return steps;
}

/** What a process made by clone(CLONE_NEWUSER) has in its new namespace. */
export function freshUserNamespaceCaps(lastCap = capLastCap()): CapState {
  const full = (1n << BigInt(lastCap + 1)) - 1n;
  return { eff: full, prm: full, inh: 0n, bnd: full, amb: 0n, securebits: 0 };
}
