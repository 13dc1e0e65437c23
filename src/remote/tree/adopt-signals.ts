// Signal dispositions of C given to its copy (which has X's by fork). Only C
// knows its handlers' addresses and flags, so each signal C catches or
// ignores is read by an injected rt_sigaction(sig, NULL, &old) in C (a read:
// C's disposition does not change) and set in the copy; a signal C leaves at
// its default is reset only where the copy's is not (SigCgt/SigIgn in
// /proc/PID/status tell, without any call).
import { statusField } from '../../proc/tasks.js';
import { NR_ADOPT, type CopyCalls, type SourceCalls } from './adopt-calls.js';

const SIGKILL = 9;
const SIGSTOP = 19;
const SIGACTION_BYTES = 32; // handler, flags, restorer, mask (the kernel's x86-64 struct)

const mask = (pid: number, name: string) => BigInt('0x' + (statusField(pid, name) ?? '0'));
const bit = (m: bigint, sig: number) => ((m >> BigInt(sig - 1)) & 1n) === 1n;

/** Returns how many dispositions were set in the copy. */
export function adoptSignals(calls: CopyCalls, cpid: number, src: number, srcCalls: SourceCalls): number {
  const sCgt = mask(src, 'SigCgt');
  const sIgn = mask(src, 'SigIgn');
  const cCgt = mask(cpid, 'SigCgt');
  const cIgn = mask(cpid, 'SigIgn');
  let set = 0;
  for (let sig = 1; sig <= 64; sig++) {
    if (sig === SIGKILL || sig === SIGSTOP) continue;
    const srcDefault = !bit(sCgt, sig) && !bit(sIgn, sig);
    let act: Buffer;
    if (srcDefault) {
      if (!bit(cCgt, sig) && !bit(cIgn, sig)) continue;
      act = Buffer.alloc(SIGACTION_BYTES); // SIG_DFL, no flags, empty mask
    } else {
      act = srcCalls.readInto(`rt_sigaction(${sig}) read`, NR_ADOPT.rt_sigaction, (slot) => [sig, 0, slot, 8], SIGACTION_BYTES);
    }
    calls.call(`rt_sigaction(${sig}) as in PID ${src}`, NR_ADOPT.rt_sigaction, [sig, calls.arg(act, 1024), 0, 8]);
    set++;
  }
  return set;
}
