// A thread seized inside an rseq critical section must take the section's
// abort, as the kernel makes it on preemption, migration or signal delivery
// (rseq_ip_fixup): rip moves to abort_ip and rseq_cs is cleared. The engine
// has to do it itself, before its first injected call: that call returns to
// user mode outside the section, where the kernel merely clears rseq_cs, so a
// thread given its own registers back afterwards would resume inside the
// section with nothing armed, and commit on a CPU it no longer runs on. The
// moved rip goes into both the registers given back to the original and those
// of the clone's thread.
import type { RseqConfig } from './ptrace.js';
import type { ProcessMemory } from './memory.js';
import { reg, setReg } from './regs.js';

/** struct rseq: rseq_cs (u64) at +8. struct rseq_cs: version, flags (u32), start_ip, post_commit_offset, abort_ip (u64). */
const RSEQ_CS_FIELD = 8n;

/** Where each registration keeps its rseq_cs pointer, to read them all at once (ProcessMemory.tryReadMany); length 0 when none is registered. */
export const rseqCsField = (rseq: RseqConfig) => ({ addr: rseq.area + RSEQ_CS_FIELD, len: rseq.area ? 8 : 0 });

/**
 * When `regs` (a stopped thread's) are inside the active critical section of
 * its rseq registration: clears rseq_cs in the thread's memory and returns the
 * registers moved to abort_ip. Otherwise undefined. As the kernel, it only
 * aborts to an abort_ip preceded by the registered signature. `field`: the
 * bytes at rseqCsField, when already read (almost always zero: no section).
 */
export function abortRseqSection(mem: ProcessMemory, regs: Buffer, rseq: RseqConfig, field?: Buffer): Buffer | undefined {
  if (!rseq.area) return undefined;
  const ptr = (field?.length === 8 ? field : mem.tryRead(rseq.area + RSEQ_CS_FIELD, 8))?.readBigUInt64LE(0);
  if (!ptr) return undefined;
  const cs = mem.tryRead(ptr, 32);
  if (!cs) return undefined;
  const start = cs.readBigUInt64LE(8);
  const length = cs.readBigUInt64LE(16);
  const abortIp = cs.readBigUInt64LE(24);
  const rip = reg(regs, 'rip');
  if (rip < start || rip - start >= length) return undefined;
  const sig = mem.tryRead(abortIp - 4n, 4)?.readUInt32LE(0);
  if (sig !== rseq.signature) return undefined; // the kernel would kill the thread; leave that to it
  mem.write(rseq.area + RSEQ_CS_FIELD, Buffer.alloc(8));
  const moved = Buffer.from(regs);
  setReg(moved, 'rip', abortIp);
  return moved;
}
