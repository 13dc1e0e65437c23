// System calls injected into the copy being turned into an image of C. Its
// memory is rebuilt under it, so the `syscall` instruction of X's layout that
// the first call runs from may vanish: the first call maps a small page of our
// own (a "trampoline") at an address free in both layouts, holding a `syscall`
// instruction and room for the calls' arguments, and every later call runs
// from there; the last call unmaps it. Calls in C itself (only reads: brk(0),
// rt_sigaction with no new action) use a slot below its leader's red zone,
// whose bytes are put back at once.
import { checkResult, collectExit, injectSyscall, passEntry, startCall } from '../inject.js';
import { ProcessMemory } from '../memory.js';
import { setReg } from '../regs.js';
import { stackSlot } from '../capture.js';
import type { TracedTask } from '../task.js';
import type { AdoptSource } from './adopt-types.js';

export const NR_ADOPT = {
  read: 0, close: 3, process_vm_readv: 310, setrlimit: 160, mmap: 9, mprotect: 10, munmap: 11, brk: 12, rt_sigaction: 13, madvise: 28, dup3: 292,
  fcntl: 72, chdir: 80, umask: 95, personality: 135, prctl: 157, chroot: 161, set_tid_address: 218,
  sigaltstack: 131, mremap: 25, openat: 257, rseq: 334, pidfd_open: 434, pidfd_getfd: 438, close_range: 436, clone: 56,
} as const;

export const TRAMPOLINE_BYTES = 4n * 4096n;
const ARG_AREA = 4096n; // offset of the argument area in the trampoline

const PROT_RWX = 7;
const MAP_PRIVATE_ANON_FIXED_NOREPLACE = 0x02 | 0x20 | 0x100000;

/** Calls in the copy's only thread. */
export class CopyCalls {
  private insn: bigint;
  private trampoline = 0n;
  private memory?: ProcessMemory;
  count = 0;

  constructor(readonly main: TracedTask, private base: Buffer, firstInsn: bigint) {
    this.insn = firstInsn;
  }

  /** The copy's /proc/PID/mem, opened when first needed (again after close). */
  get mem(): ProcessMemory {
    return (this.memory ??= new ProcessMemory(this.main.tid));
  }

  /** Runs one call; throws InjectedCallFailed naming `what` and the copy's TID. */
  call(what: string, nr: number, args: (bigint | number)[]): bigint {
    this.count++;
    return checkResult(what, this.main.tid, injectSyscall(this.main, this.insn, this.base, nr, args));
  }

  /** The raw result (negative errno), for calls whose failure is a decision, not an error. */
  try(nr: number, args: (bigint | number)[]): bigint {
    this.count++;
    return injectSyscall(this.main, this.insn, this.base, nr, args);
  }

  /**
   * Starts a call and returns without waiting for it to end: the copy runs it
   * while we do other work. Nothing else may be asked of the copy until the
   * returned function has collected the call's raw result.
   */
  begin(nr: number, args: (bigint | number)[]): () => bigint {
    this.count++;
    const c = { task: this.main, base: this.base, nr, args };
    startCall(c, this.insn);
    passEntry(c);
    return () => collectExit(c);
  }

  /** Bytes of call arguments the call page holds. */
  static readonly ARG_BYTES = Number(TRAMPOLINE_BYTES - ARG_AREA);

  /** Maps the trampoline at `at` (free in X's and in C's layout) and runs every later call from it. */
  placeTrampoline(at: bigint): void {
    this.call(`mmap of the copy's call page at 0x${at.toString(16)}`, NR_ADOPT.mmap, [at, TRAMPOLINE_BYTES, PROT_RWX, MAP_PRIVATE_ANON_FIXED_NOREPLACE, -1, 0]);
    this.mem.write(at, Buffer.from([0x0f, 0x05, 0xcc, 0xcc])); // syscall; int3 (never reached: we stop at the call's exit)
    this.trampoline = at;
    this.insn = at;
  }

  get trampolineRange(): { start: bigint; end: bigint } | undefined {
    return this.trampoline ? { start: this.trampoline, end: this.trampoline + TRAMPOLINE_BYTES } : undefined;
  }

  /** Writes call arguments into the trampoline's argument area (at `offset` in it); their address in the copy. */
  arg(data: Buffer, offset = 0): bigint {
    if (!this.trampoline) throw new Error('no call page in the copy yet');
    if (BigInt(offset + data.length) > TRAMPOLINE_BYTES - ARG_AREA) throw new Error(`argument of ${data.length} bytes does not fit the copy's call page`);
    const at = this.trampoline + ARG_AREA + BigInt(offset);
    this.mem.write(at, data);
    return at;
  }

  /** A NUL-terminated string argument. */
  str(s: string, offset = 0): bigint {
    return this.arg(Buffer.from(s + '\0'), offset);
  }

  /** Later calls start from `base` (rsp in C's layout) and run from `insn` (C's); unmaps the trampoline. */
  finish(base: Buffer, insn: bigint): void {
    if (this.trampoline) this.call('munmap of the call page', NR_ADOPT.munmap, [this.trampoline, TRAMPOLINE_BYTES]);
    this.trampoline = 0n;
    this.base = base;
    this.insn = insn;
  }

  /** Closes the copy's /proc/PID/mem (a later use opens it again). */
  close(): void {
    this.memory?.close();
    this.memory = undefined;
  }
}

/** Read-only calls in the held source C, in its leader, with a result slot below its red zone. */
export class SourceCalls {
  count = 0;
  private readonly task: TracedTask;
  private readonly base: Buffer;
  readonly slot: bigint;

  constructor(private readonly src: AdoptSource) {
    this.task = src.tasks[0]!;
    this.base = src.callBase.get(this.task.tid) ?? src.states[0]!.regs;
    this.slot = stackSlot(src.states[0]!.regs);
  }

  call(what: string, nr: number, args: (bigint | number)[]): bigint {
    this.count++;
    return checkResult(`${what} in PID ${this.src.pid}`, this.task.tid, injectSyscall(this.task, this.src.insn, this.base, nr, args));
  }

  /** Runs a call that writes at most `len` bytes at the slot; returns them, the slot's bytes put back. */
  readInto(what: string, nr: number, args: (slot: bigint) => (bigint | number)[], len: number): Buffer {
    const saved = this.src.mem.read(this.slot, len);
    try {
      this.call(what, nr, args(this.slot));
      return this.src.mem.read(this.slot, len);
    } finally {
      this.src.mem.write(this.slot, saved);
    }
  }
}

/** `regs` with rsp replaced. */
export function withRsp(regs: Buffer, rsp: bigint): Buffer {
  const b = Buffer.from(regs);
  setReg(b, 'rsp', rsp);
  return b;
}
