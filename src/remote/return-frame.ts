// The safety net under every call injected into an ORIGINAL thread: if the
// engine dies (SIGKILL, OOM killer) while a thread runs or sits in one of our
// calls, the kernel detaches it with the call's registers. So every injected
// call is made through a `syscall; ret` gadget found in the target's own text,
// with rsp pointing at a signal frame (struct rt_sigframe) written below the
// thread's red zone. Its first word, popped by that `ret`, is the address of a
// `mov $15, %eax; syscall` (libc's __restore_rt): rt_sigreturn, which loads
// the frame's complete context — every general register, flags, the signal
// mask and the full xstate (x87/SSE/AVX/AVX-512) — exactly as after a signal
// handler. An orphaned injection therefore returns the thread to where it was.
//
// While the engine lives the `ret` never runs: each call is caught at its
// syscall-exit stop and the thread is given its own registers back at the end
// (restore.ts). The frame only matters on the orphan path, where it holds the
// registers the kernel would have resumed with had no signal come: a call the
// thread was blocked in is made again (rax = its number, rip back over the
// `syscall`), and one restarted through the restart block returns EINTR (as
// rt_sigreturn ends any restart block), exactly as after a signal handler.
//
// The frame's uc_stack has an invalid mode, so rt_sigreturn leaves the
// thread's sigaltstack as it is (do_sigaltstack refuses it with EINVAL, and
// rt_sigreturn ignores every error there but EFAULT).
//
// The forker's injected fork gives the child its own stack: a second frame
// whose context makes it call exit_group at once, so a copy orphaned before
// it is ours to build never runs the program (the target's parent reaps it).
import { ProcessMemory } from './memory.js';
import { reg, resumeRegs, setReg, type RegName } from './regs.js';
import type { Mapping } from './syscall-insn.js';

const FP_XSTATE_MAGIC1 = 0x46505853;
const FP_XSTATE_MAGIC2 = 0x46505845;
const UC_FP_XSTATE = 1;
const UC_SIGCONTEXT_SS = 2;
const UC_STRICT_RESTORE_SS = 4;
const NR_exit_group = 231;
/** Exit code of an orphaned, never-built copy (the target's parent sees it). */
export const ORPHAN_EXIT_CODE = 113;

/** rt_sigframe: pretcode (8), ucontext (304: flags, link, stack_t, sigcontext 256, sigmask 8), siginfo (128). */
const FRAME_BYTES = 8 + 304 + 128;
const UC = 8;
const MCONTEXT = UC + 40;
const SIGMASK = UC + 296;
/** struct sigcontext (x86-64) field order */
const SC_ORDER: RegName[] = ['r8', 'r9', 'r10', 'r11', 'r12', 'r13', 'r14', 'r15', 'rdi', 'rsi', 'rbp', 'rbx', 'rdx', 'rax', 'rcx', 'rsp', 'rip', 'eflags'];

/**
 * End offset of each user xstate component in the standard (non-compacted)
 * XSAVE layout, which is what PTRACE_GETREGSET(NT_X86_XSTATE) returns:
 * AVX, MPX (2), opmask, ZMM_Hi256, Hi16_ZMM, PKRU, AMX TILECFG. The frame
 * only needs to reach the last component in use; a larger one could exceed
 * the size the kernel accepts for the thread (AMX tile data is only there
 * when the thread uses it, and then its full size is allowed).
 */
const COMPONENT_END: Record<number, number> = { 2: 832, 3: 1024, 4: 1088, 5: 1152, 6: 1664, 7: 2688, 9: 2696, 17: 2816 };

export interface ReturnPath {
  /** a `syscall; ret` (0f 05 c3) */
  gadget: bigint;
  /** a `mov $15, %eax|%rax; syscall` */
  restorer: bigint;
}

const CHUNK = 1 << 18;
const GADGET = Buffer.from([0x0f, 0x05, 0xc3]);
const RESTORERS = [Buffer.from([0x48, 0xc7, 0xc0, 0x0f, 0, 0, 0, 0x0f, 0x05]), Buffer.from([0xb8, 0x0f, 0, 0, 0, 0x0f, 0x05])];

/** Where each was found last, per mapped file and address (reused once its bytes are checked again). */
const found = new Map<string, ReturnPath>();

/**
 * Finds the gadget and the restorer in the target's executable mappings
 * (vDSO, then ld.so, which has both early, then libc, then the rest: a static
 * program has them in its own text); undefined when either is missing.
 */
export function findReturnPath(maps: Mapping[], mem: ProcessMemory): ReturnPath | undefined {
  const code = maps.filter((m) => m.perms.includes('x') && m.path !== '[vsyscall]');
  const rank = (m: Mapping) => (m.path === '[vdso]' ? 0 : /\/ld-/.test(m.path) ? 1 : /libc[.-]/.test(m.path) ? 2 : 3);
  const key = code.map((m) => `${m.path}@${m.start}`).join(',');
  const known = found.get(key);
  const is = (at: bigint, bytes: Buffer) => mem.tryRead(at, bytes.length)?.equals(bytes) ?? false;
  if (known && is(known.gadget, GADGET) && RESTORERS.some((r) => is(known.restorer, r))) return known;
  let gadget: bigint | undefined;
  let restorer: bigint | undefined;
  for (const m of [...code].sort((a, b) => rank(a) - rank(b))) {
    for (let at = m.start; at < m.end && (gadget === undefined || restorer === undefined); at += BigInt(CHUNK)) {
      const left = m.end - at;
      const b = mem.tryRead(at, Number(left < BigInt(CHUNK + 16) ? left : BigInt(CHUNK + 16)));
      if (!b) break;
      if (gadget === undefined) {
        const i = b.indexOf(GADGET);
        if (i >= 0) gadget = at + BigInt(i);
      }
      for (const r of restorer === undefined ? RESTORERS : []) {
        const i = b.indexOf(r);
        if (i >= 0 && restorer === undefined) restorer = at + BigInt(i);
      }
    }
    if (gadget !== undefined && restorer !== undefined) {
      const path = { gadget, restorer };
      found.set(key, path);
      return path;
    }
  }
  return undefined;
}

/** The xfeatures a frame's fpstate restores (those in use; a syscall changes none of the rest) and its size. */
function fpstateLayout(xstate: Buffer): { inUse: bigint; size: number } {
  const inUse = xstate.length >= 520 ? xstate.readBigUInt64LE(512) | 3n : 3n;
  let size = 576; // legacy area + XSAVE header
  for (let bit = 2; bit < 64; bit++) {
    if (!(inUse & (1n << BigInt(bit)))) continue;
    size = Math.max(size, COMPONENT_END[bit] ?? xstate.length);
  }
  return { inUse, size: Math.min(size, xstate.length) };
}

/**
 * Writes the xstate as a signal frame's fpstate at `out[at]`: sw bytes (magic,
 * sizes, features) set, MAGIC2 after it; `size + 4` bytes (fpstateLayout).
 * Written in place: the frames of every held thread are built while it is
 * held, and here each allocation and copy shows (about 5 µs a copy).
 */
function writeFpstate(xstate: Buffer, out: Buffer, at: number, { inUse, size }: { inUse: bigint; size: number }): void {
  xstate.copy(out, at, 0, size);
  out.fill(0, at + 464, at + 512);
  out.writeUInt32LE(FP_XSTATE_MAGIC1, at + 464);
  out.writeUInt32LE(size + 4, at + 468); // extended_size
  out.writeBigUInt64LE(inUse, at + 472); // xfeatures to restore: those in use (the rest are unchanged by a syscall)
  out.writeUInt32LE(size, at + 480); // xstate_size
  out.writeUInt32LE(FP_XSTATE_MAGIC2, at + size);
}

/** Writes an rt_sigframe at `f[0]` (FRAME_BYTES, zeroed) whose context is `regs` (with `mask` and the fpstate at `fp`, 0: none). */
function writeSigframe(f: Buffer, restorer: bigint, regs: Buffer, mask: Buffer, fp: bigint): void {
  f.writeBigUInt64LE(restorer, 0);
  f.writeBigUInt64LE(BigInt(UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS), UC);
  f.writeInt32LE(3, UC + 16 + 8); // uc_stack.ss_flags: no valid mode, so the altstack is left alone
  SC_ORDER.forEach((r, i) => f.writeBigUInt64LE(reg(regs, r), MCONTEXT + 8 * i));
  f.writeUInt16LE(Number(reg(regs, 'cs')), MCONTEXT + 144);
  f.writeUInt16LE(Number(reg(regs, 'ss')), MCONTEXT + 150);
  f.writeBigUInt64LE(fp, MCONTEXT + 184);
  mask.copy(f, SIGMASK, 0, 8);
}

/** An rt_sigframe (writeSigframe) of its own. */
function sigframe(restorer: bigint, regs: Buffer, mask: Buffer, fp: bigint): Buffer {
  const f = Buffer.alloc(FRAME_BYTES);
  writeSigframe(f, restorer, regs, mask, fp);
  return f;
}

/** Below the red zone and the engine's scratch slots (capture.ts, exact.ts use rsp-128-640 and up). */
const frameTop = (rsp: bigint) => rsp - 2048n;

/**
 * The frames written into the original threads' stacks, and the bytes they
 * covered (put back before the threads are let go).
 */
export class ReturnFrames {
  private readonly saved: { at: bigint; bytes: Buffer }[] = [];
  /** frames planned by protect and childStack, written by flush */
  private pending: { at: bigint; data: Buffer }[] = [];
  private given = false;
  /** `batched`: frames are written by flush, all at once; otherwise each as it is planned. */
  constructor(
    private readonly mem: ProcessMemory,
    readonly path: ReturnPath,
    private readonly batched = false,
  ) {}

  private put(at: bigint, data: Buffer): void {
    this.pending.push({ at, data });
    if (!this.batched) this.flush();
  }

  /**
   * Writes every frame planned since the last flush, the bytes under them
   * saved first: one read and one write for all of them (the target is held
   * meanwhile). Call before the first injected call that relies on them.
   */
  flush(): void {
    if (!this.pending.length) return;
    const old = this.mem.readMany(this.pending.map((p) => ({ addr: p.at, len: p.data.length })));
    this.pending.forEach((p, i) => this.saved.push({ at: p.at, bytes: old[i]! }));
    this.mem.writeMany(this.pending.map((p) => ({ addr: p.at, data: p.data })));
    this.pending = [];
  }

  /**
   * Writes the thread's frame (batched: plans it for flush); returns the registers to
   * base its injected calls on (rsp at the frame). `regs`, `mask`, `xstate`: as seized.
   */
  protect(regs: Buffer, mask: Buffer, xstate: Buffer): Buffer {
    const fp = fpstateLayout(xstate);
    const fpAt = (frameTop(reg(regs, 'rsp')) - BigInt(fp.size + 4)) & ~63n;
    const frameAt = (fpAt - BigInt(FRAME_BYTES)) & ~63n;
    // one buffer and one write: the frame, then (64-byte aligned) the fpstate
    const region = Buffer.alloc(Number(fpAt - frameAt) + fp.size + 4);
    writeSigframe(region, this.path.restorer, resumeRegs(regs), mask, fpAt);
    writeFpstate(xstate, region, Number(fpAt - frameAt), fp);
    this.put(frameAt, region);
    const base = Buffer.from(regs);
    setReg(base, 'rsp', frameAt);
    return base;
  }

  /**
   * A stack for the forker's injected fork to give its child: a frame whose
   * context calls exit_group(ORPHAN_EXIT_CODE) through the gadget. Placed
   * below the forker's own frame (`base`: what protect returned).
   */
  childStack(base: Buffer): bigint {
    const regs = Buffer.from(base);
    setReg(regs, 'rip', this.path.gadget);
    setReg(regs, 'rax', NR_exit_group);
    setReg(regs, 'rdi', ORPHAN_EXIT_CODE);
    setReg(regs, 'orig_rax', -1n);
    const at = (reg(base, 'rsp') - BigInt(FRAME_BYTES) - 64n) & ~15n;
    this.put(at, sigframe(this.path.restorer, regs, Buffer.alloc(8, 0xff), 0n));
    return at;
  }

  /** Writes the bytes the frames covered into another copy of the memory (a clone's), newest first. */
  restoreInto(other: ProcessMemory): void {
    other.writeMany([...this.saved].reverse().map((s) => ({ addr: s.at, data: s.bytes })));
  }

  /** Puts back every byte the frames covered (newest first), once: the original runs again after it. */
  restoreMemory(): void {
    if (this.given) return;
    this.given = true;
    this.restoreInto(this.mem);
  }
}
