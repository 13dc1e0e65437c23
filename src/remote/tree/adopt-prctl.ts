// Process settings fork does not carry, or carries from X instead of C, read
// from C by injected prctl calls (reads: C does not change) and set in the
// copy: the parent-death signal (fork clears it), child-subreaper (not
// inherited), dumpable and THP-disable (X's after fork).
import { NR_ADOPT, type CopyCalls, type SourceCalls } from './adopt-calls.js';

const PR = {
  SET_PDEATHSIG: 1, GET_PDEATHSIG: 2, GET_DUMPABLE: 3, SET_DUMPABLE: 4,
  SET_CHILD_SUBREAPER: 36, GET_CHILD_SUBREAPER: 37, SET_THP_DISABLE: 41, GET_THP_DISABLE: 42,
} as const;

/** The settings a later id change in the copy resets (the kernel clears one and resets the other). */
export interface IdSensitive {
  pdeath: number;
  dumpable: number;
}

export function adoptPrctl(calls: CopyCalls, src: number, srcCalls: SourceCalls): IdSensitive {
  let dumpable = 0;
  const readInt = (what: string, op: number) => srcCalls.readInto(what, NR_ADOPT.prctl, (slot) => [op, slot, 0, 0, 0], 4).readInt32LE(0);
  const pdeath = readInt('prctl(PR_GET_PDEATHSIG)', PR.GET_PDEATHSIG);
  if (pdeath) calls.call(`prctl(PR_SET_PDEATHSIG, ${pdeath}) as in PID ${src}`, NR_ADOPT.prctl, [PR.SET_PDEATHSIG, pdeath, 0, 0, 0]);
  const reaper = readInt('prctl(PR_GET_CHILD_SUBREAPER)', PR.GET_CHILD_SUBREAPER);
  if (reaper) calls.call(`prctl(PR_SET_CHILD_SUBREAPER) as in PID ${src}`, NR_ADOPT.prctl, [PR.SET_CHILD_SUBREAPER, 1, 0, 0, 0]);
  for (const [get, set, name] of [[PR.GET_DUMPABLE, PR.SET_DUMPABLE, 'DUMPABLE'], [PR.GET_THP_DISABLE, PR.SET_THP_DISABLE, 'THP_DISABLE']] as const) {
    const want = srcCalls.call(`prctl(PR_GET_${name})`, NR_ADOPT.prctl, [get, 0, 0, 0, 0]);
    const have = calls.call(`prctl(PR_GET_${name})`, NR_ADOPT.prctl, [get, 0, 0, 0, 0]);
    if (want !== have) calls.call(`prctl(PR_SET_${name}, ${want}) as in PID ${src}`, NR_ADOPT.prctl, [set, want, 0, 0, 0]);
    if (get === PR.GET_DUMPABLE) dumpable = Number(want);
  }
  return { pdeath, dumpable };
}

/** Puts back what a uid change in the copy reset: its parent-death signal and "dumpable". */
export function restoreIdSensitive(call: (what: string, nr: number, args: (bigint | number)[]) => bigint, s: IdSensitive): void {
  if (s.pdeath) call(`prctl(PR_SET_PDEATHSIG, ${s.pdeath})`, NR_ADOPT.prctl, [PR.SET_PDEATHSIG, s.pdeath, 0, 0, 0]);
  call(`prctl(PR_SET_DUMPABLE, ${s.dumpable})`, NR_ADOPT.prctl, [PR.SET_DUMPABLE, s.dumpable, 0, 0, 0]);
}
