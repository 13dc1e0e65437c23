// C's identity given to its copy. The copy is forked by X (the copy of C's
// parent) and starts with X's credentials; a member that changed its own
// (a pre-fork server's workers that drop from root to an unprivileged user,
// as nginx's and apache's do) gets them back by calls in the copy, made as
// the last privileged steps of adoption (after namespaces, mm fields and
// descriptors, which need X's rights). Only a loss of privilege can be given
// this way: the copy can become C when X may set every id C has (CAP_SETUID,
// CAP_SETGID) and C's capabilities are within X's; a member that has more
// than its parent (a setuid or setcap program) stays refused.
//
// Order matters because the kernel changes capabilities on id changes:
// bounding-set drops first (they need CAP_SETPCAP), then groups and gids,
// then keep-caps so the uid change keeps the permitted set, then the uids,
// then capset to C's exact sets, ambient raises, and C's keep-caps bit.
// The uid step waits until the tree's pipes are planted: the copy takes them
// from the engine with pidfd_getfd, which needs the engine's uid (a changed
// gid is fine while the copy keeps CAP_SYS_PTRACE). An id change clears the
// parent-death signal and resets "dumpable": both are put back after it.
import { RemoteError } from '../errors.js';
import { NR_ADOPT, type CopyCalls, type SourceCalls } from './adopt-calls.js';
import { readFileSync } from 'node:fs';
import { statusValue } from '../../proc/tasks.js';

const NR = { setgroups: 116, setresuid: 117, setresgid: 119, setfsuid: 122, setfsgid: 123, capset: 126 } as const;
const PR = { SET_KEEPCAPS: 8, CAPBSET_DROP: 24, GET_SECUREBITS: 27, SET_SECUREBITS: 28, CAP_AMBIENT: 47 } as const;
const PR_CAP_AMBIENT_RAISE = 2;
const SECBIT_KEEP_CAPS = 1 << 4;
const SECBIT_KEEP_CAPS_LOCKED = 1 << 5;
const CAP = { SETGID: 6, SETUID: 7, SETPCAP: 8 } as const;
const LINUX_CAPABILITY_VERSION_3 = 0x20080522;

/** The credentials of a process as /proc/PID/status shows them. */
export interface Creds {
  uid: number[]; // real, effective, saved, filesystem
  gid: number[];
  groups: number[];
  inh: bigint;
  prm: bigint;
  eff: bigint;
  bnd: bigint;
  amb: bigint;
}

export function readCreds(pid: number): Creds {
  const text = readFileSync(`/proc/${pid}/status`, 'utf8');
  const ids = (name: string) => (statusValue(text, name) ?? '').split(/\s+/).filter(Boolean).map(Number);
  const caps = (name: string) => BigInt('0x' + (statusValue(text, name) || '0'));
  return { uid: ids('Uid'), gid: ids('Gid'), groups: ids('Groups'), inh: caps('CapInh'), prm: caps('CapPrm'), eff: caps('CapEff'), bnd: caps('CapBnd'), amb: caps('CapAmb') };
}

const same = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => v === b[i]);
const has = (set: bigint, cap: number) => ((set >> BigInt(cap)) & 1n) === 1n;
const subset = (a: bigint, b: bigint) => (a & ~b) === 0n;
const sortedGroups = (g: number[]) => [...g].sort((x, y) => x - y);

export function sameCreds(a: Creds, b: Creds): boolean {
  return same(a.uid, b.uid) && same(a.gid, b.gid) && same(sortedGroups(a.groups), sortedGroups(b.groups))
    && a.inh === b.inh && a.prm === b.prm && a.eff === b.eff && a.bnd === b.bnd && a.amb === b.amb;
}

/** Why a process with credentials `have` cannot give itself `want` (undefined: it can). */
export function credsGap(want: Creds, have: Creds): string | undefined {
  if (sameCreds(want, have)) return undefined;
  const hex = (v: bigint) => v.toString(16).padStart(16, '0');
  if (!same(want.uid, have.uid) && !has(have.eff, CAP.SETUID)) return `Uid: ${want.uid.join(' ')} vs ${have.uid.join(' ')}, and the parent lacks CAP_SETUID`;
  if ((!same(want.gid, have.gid) || !same(sortedGroups(want.groups), sortedGroups(have.groups))) && !has(have.eff, CAP.SETGID))
    return `Gid/Groups: ${want.gid.join(' ')} [${want.groups.join(' ')}] vs ${have.gid.join(' ')} [${have.groups.join(' ')}], and the parent lacks CAP_SETGID`;
  if (!subset(want.bnd, have.bnd)) return `CapBnd: ${hex(want.bnd)} vs ${hex(have.bnd)}: more than the parent's bounding set`;
  if (want.bnd !== have.bnd && !has(have.eff, CAP.SETPCAP)) return `CapBnd: ${hex(want.bnd)} vs ${hex(have.bnd)}, and the parent lacks CAP_SETPCAP`;
  if (!subset(want.prm, have.prm)) return `CapPrm: ${hex(want.prm)} vs ${hex(have.prm)}: capabilities the parent does not have`;
  if (!subset(want.inh, have.inh | (has(have.eff, CAP.SETPCAP) ? have.bnd : have.prm))) return `CapInh: ${hex(want.inh)} vs ${hex(have.inh)}: more than the parent may grant`;
  return undefined;
}

function capsetData(c: Creds): Buffer {
  const b = Buffer.alloc(8 + 24);
  b.writeUInt32LE(LINUX_CAPABILITY_VERSION_3, 0);
  b.writeInt32LE(0, 4); // this thread
  for (const [i, half] of [[0, 0n], [1, 32n]] as const) {
    b.writeUInt32LE(Number((c.eff >> half) & 0xffffffffn), 8 + i * 12);
    b.writeUInt32LE(Number((c.prm >> half) & 0xffffffffn), 8 + i * 12 + 4);
    b.writeUInt32LE(Number((c.inh >> half) & 0xffffffffn), 8 + i * 12 + 8);
  }
  return b;
}

/** What is left to give the copy once its descriptors are in place: the uids and capabilities. */
export interface UserStep {
  src: number;
  want: Creds;
  wantBits: number;
  haveBits: number;
  uidChanges: boolean;
}

/**
 * Gives the copy `cpid` C's (`src`) bounding set, groups and gids now, while
 * it still has X's uids (its later pidfd_getfd calls need them); the rest
 * (`UserStep`) is done by giveUser once its descriptors are in place.
 * Undefined when C's credentials are X's. Throws a RemoteError naming C when
 * they cannot be given.
 */
export function adoptGroups(calls: CopyCalls, cpid: number, src: number, srcCalls: SourceCalls): UserStep | undefined {
  const want = readCreds(src);
  const have = readCreds(cpid);
  const wantBits = Number(srcCalls.call('prctl(PR_GET_SECUREBITS)', NR_ADOPT.prctl, [PR.GET_SECUREBITS, 0, 0, 0, 0]));
  const haveBits = Number(calls.call('prctl(PR_GET_SECUREBITS)', NR_ADOPT.prctl, [PR.GET_SECUREBITS, 0, 0, 0, 0]));
  if (sameCreds(want, have) && wantBits === haveBits) return undefined;
  const gap = credsGap(want, have);
  if (gap) throw new RemoteError(`PID ${src} has other credentials than its parent's copy ${cpid} (${gap}): its copy, made by the parent's copy, cannot be given them`, 'not-supported');
  const uidChanges = !same(want.uid, have.uid);
  const lockedOff = (wantBits & SECBIT_KEEP_CAPS_LOCKED) !== 0 && (wantBits & SECBIT_KEEP_CAPS) === 0;
  if (lockedOff && uidChanges && want.prm !== 0n)
    throw new RemoteError(`PID ${src} has keep-caps locked off (securebits 0x${wantBits.toString(16)}) yet capabilities under another uid: its copy cannot be given both`, 'not-supported');
  if (wantBits !== haveBits && !has(have.eff, CAP.SETPCAP))
    throw new RemoteError(`PID ${src} has securebits 0x${wantBits.toString(16)}, its parent's copy ${cpid} 0x${haveBits.toString(16)} and no CAP_SETPCAP to change them`, 'not-supported');
  for (let cap = 0; cap < 64; cap++)
    if (has(have.bnd, cap) && !has(want.bnd, cap)) calls.call(`prctl(PR_CAPBSET_DROP, ${cap}) as in PID ${src}`, NR_ADOPT.prctl, [PR.CAPBSET_DROP, cap, 0, 0, 0]);
  if (!same(sortedGroups(want.groups), sortedGroups(have.groups))) {
    const list = Buffer.alloc(4 * Math.max(1, want.groups.length));
    want.groups.forEach((g, i) => list.writeUInt32LE(g, 4 * i));
    calls.call(`setgroups([${want.groups.join(',')}]) as in PID ${src}`, NR.setgroups, [want.groups.length, calls.arg(list, 2048)]);
  }
  if (!same(want.gid, have.gid)) {
    calls.call(`setresgid(${want.gid.slice(0, 3).join(', ')}) as in PID ${src}`, NR.setresgid, want.gid.slice(0, 3));
    if (want.gid[3] !== want.gid[1]) calls.call(`setfsgid(${want.gid[3]})`, NR.setfsgid, [want.gid[3]!]);
  }
  return { src, want, wantBits, haveBits, uidChanges };
}

/** Calls in the copy's leader once adoption's call page is gone: `scratch` is 32 dead bytes below its red zone. */
export interface LeaderCalls {
  call(what: string, nr: number, args: (bigint | number)[]): bigint;
  write(at: bigint, data: Buffer): void;
  scratch: bigint;
}

/**
 * The uids, capabilities and securebits of C given to its copy, after its
 * descriptors are in place and before its other threads are made (they
 * inherit them). A uid change clears the parent-death signal and resets
 * "dumpable" (the kernel does both): `after` puts C's back.
 */
export function giveUser(c: LeaderCalls, step: UserStep, cpid: number, after: () => void): void {
  const { src, want, wantBits, haveBits, uidChanges } = step;
  const needKeep = uidChanges && want.prm !== 0n; // the permitted set must survive the uid change
  // C's securebits while CAP_SETPCAP is still ours, with keep-caps on across the uid change when needed
  const bitsNow = wantBits | (needKeep ? SECBIT_KEEP_CAPS : 0);
  if (bitsNow !== haveBits) {
    if (wantBits !== haveBits) c.call(`prctl(PR_SET_SECUREBITS, 0x${bitsNow.toString(16)})`, NR_ADOPT.prctl, [PR.SET_SECUREBITS, bitsNow, 0, 0, 0]);
    else c.call('prctl(PR_SET_KEEPCAPS, 1)', NR_ADOPT.prctl, [PR.SET_KEEPCAPS, 1, 0, 0, 0]);
  }
  if (uidChanges) {
    c.call(`setresuid(${want.uid.slice(0, 3).join(', ')}) as in PID ${src}`, NR.setresuid, want.uid.slice(0, 3));
    if (want.uid[3] !== want.uid[1]) c.call(`setfsuid(${want.uid[3]})`, NR.setfsuid, [want.uid[3]!]);
  }
  c.write(c.scratch, capsetData(want));
  c.call(`capset (the capability sets of PID ${src})`, NR.capset, [c.scratch, c.scratch + 8n]);
  for (let cap = 0; cap < 64; cap++)
    if (has(want.amb, cap)) c.call(`prctl(PR_CAP_AMBIENT_RAISE, ${cap}) as in PID ${src}`, NR_ADOPT.prctl, [PR.CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0]);
  if (bitsNow !== wantBits) c.call('prctl(PR_SET_KEEPCAPS, 0)', NR_ADOPT.prctl, [PR.SET_KEEPCAPS, 0, 0, 0, 0]);
  if (uidChanges) after();
  const got = readCreds(cpid);
  if (!sameCreds(want, got))
    throw new RemoteError(`PID ${src}'s credentials could not be given to its copy ${cpid} (Uid ${got.uid.join(' ')}, CapEff ${got.eff.toString(16)} after the calls)`, 'failed');
}
