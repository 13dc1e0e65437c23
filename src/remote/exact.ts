// Exact-TID clones from outside: the clone keeps the target's PID and TIDs.
//
// TIDs can only be chosen (clone3 set_tid) inside a PID namespace that already
// has a PID 1, by a process with CAP_SYS_ADMIN over it. So:
//   1. the forker (an original thread) makes, by an injected clone3, a copy I
//      of the target in new PID and mount namespaces (and a user namespace
//      when we are not root; its uid/gid maps are written from here);
//   2. in I, injected calls make the mount namespace private and mount /proc
//      for the new PID namespace, then clone3 with set_tid = {target PID}
//      makes the real clone C, a copy of I, stopped and traced by us;
//   3. I execs forkall-ns-init (native/tools): the namespace's init, which
//      reaps and exits with C's status (I was made with CLONE_PARENT, so the
//      target's parent reaps I and learns how C ended);
//   4. C is built like any clone, its threads made by clone3 with set_tid =
//      {old TID} (recreate.ts).
// Everything done in I works on I's own copy of the forker's stack below the
// red zone; in the original, the bytes used for clone3's arguments are put back.
import { readFileSync, writeFileSync } from 'node:fs';
import { listTids, statusField } from '../proc/tasks.js';
import * as pt from './ptrace.js';
import { callRegs, checkResult, injectSyscall, NR } from './inject.js';
import { ProcessMemory } from './memory.js';
import { reg, setReg, sreg } from './regs.js';
import { RemoteError } from './errors.js';
import { errnoName } from './libc.js';
import { capSteps, freshUserNamespaceCaps } from './caps.js';
import { applyCapSteps } from './caps-apply.js';
import { TracedTask } from './task.js';
import type { ThreadState } from './capture.js';

const CLONE_NEWNS = 0x20000;
const CLONE_NEWUSER = 0x10000000;
const CLONE_NEWPID = 0x20000000;
const CLONE_PTRACE = 0x2000;
const CLONE_PARENT = 0x8000;
const CLONE_CHILD_CLEARTID = 0x200000;
const SIGCHLD = 17;
const MS_REC = 0x4000;
const MS_PRIVATE = 1 << 18;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;

/** Bytes of a thread's dead stack (below the red zone) used for clone3 arguments and strings. */
export const SCRATCH_BYTES = 256;
export const scratch = (regs: Buffer): bigint => (reg(regs, 'rsp') - 128n - 512n) & ~15n;

export interface Clone3Args {
  flags: number;
  /** SIGCHLD for a process, 0 for a thread */
  exitSignal: number;
  childTid?: bigint;
  stack?: bigint;
  stackSize?: bigint;
  tls?: bigint;
  /** the TID to take in the innermost PID namespace */
  setTid?: number;
  /** where the struct will be written (set_tid points just past it) */
  at: bigint;
}

/** struct clone_args (88 bytes), followed at +96 by the set_tid array when given. */
export function cloneArgs(a: Clone3Args): Buffer {
  const b = Buffer.alloc(a.setTid ? 100 : 88);
  b.writeBigUInt64LE(BigInt(a.flags), 0);
  b.writeBigUInt64LE(a.childTid ?? 0n, 16);
  b.writeBigUInt64LE(BigInt(a.exitSignal), 32);
  b.writeBigUInt64LE(a.stack ?? 0n, 40);
  b.writeBigUInt64LE(a.stackSize ?? 0n, 48);
  b.writeBigUInt64LE(a.tls ?? 0n, 56);
  if (a.setTid) {
    b.writeBigUInt64LE(a.at + 96n, 64);
    b.writeBigUInt64LE(1n, 72);
    b.writeInt32LE(a.setTid, 96);
  }
  return b;
}

/** Step 1: the copy I in new namespaces; returns it stopped and traced. */
export function injectNamespaceCopy(forker: TracedTask, f: ThreadState, insn: bigint, mem: ProcessMemory, userns: boolean, base: Buffer, childStack: bigint): TracedTask {
  const at = scratch(f.regs);
  const saved = mem.read(at, SCRATCH_BYTES);
  let flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_PARENT | CLONE_PTRACE;
  if (userns) flags |= CLONE_NEWUSER;
  let initPid: bigint;
  try {
    // clone3 wants exit_signal 0 with CLONE_PARENT: I signals the target's parent as the target would
    // childStack: where an orphaned copy returns to (return-frame.ts)
    mem.write(at, cloneArgs({ flags, exitSignal: 0, at, ...(childStack ? { stack: childStack - 64n, stackSize: 64n } : {}) }));
    initPid = injectSyscall(forker, insn, base, NR.clone3, [at, 88]);
  } finally {
    mem.write(at, saved);
  }
  if (initPid < 0n) {
    const errno = Number(-initPid);
    const name = errnoName(errno);
    throw new RemoteError(
      userns
        ? `exact TIDs: process ${forker.tgid} (thread ${forker.tid}) lacks CAP_SYS_ADMIN, so its copy needs a user namespace of its own, and creating a user + PID namespace failed: ${name}; ` +
            (errno === 28
              ? 'the limit /proc/sys/user/max_user_namespaces (or max_pid_namespaces) is reached'
              : 'user namespaces are off for it (/proc/sys/user/max_user_namespaces is 0, kernel.unprivileged_userns_clone is 0, an LSM refuses, or the process is in a chroot)')
        : `exact TIDs: process ${forker.tgid} (thread ${forker.tid}) has CAP_SYS_ADMIN, yet creating a PID namespace in it failed: ${name}${errno === 28 ? ' (/proc/sys/user/max_pid_namespaces reached)' : ''}`,
      'failed',
    );
  }
  const init = new TracedTask(Number(initPid), Number(initPid));
  init.waitEventStop();
  pt.setOptions(init.tid, pt.OPT.EXITKILL | pt.OPT.TRACESYSGOOD); // if we die, the namespace dies with us
  return init;
}

/**
 * Outer TIDs of the threads of `pid` (a process in a namespace of its own)
 * whose TID inside is one of `inner`: the NSpid line of each task names both.
 */
export function outerTids(pid: number, inner: number[]): number[] {
  const want = new Map<number, number>();
  for (const tid of listTids(pid)) {
    const ns = statusField(pid, 'NSpid', tid)?.split(/\s+/).map(Number);
    if (ns && ns.length > 1) want.set(ns.at(-1)!, tid);
  }
  return inner.map((t) => {
    const outer = want.get(t);
    if (outer === undefined) throw new RemoteError(`exact TIDs: thread ${t} of the clone ${pid} is not in /proc/${pid}/task`, 'failed');
    return outer;
  });
}

/**
 * uid_map/gid_map for the copy's user namespace: the target's own ids (real,
 * effective, saved, filesystem) mapped to themselves. An unprivileged writer
 * may only map its own effective id (and must deny setgroups first).
 */
function idMaps(pid: number, field: 'Uid' | 'Gid'): string {
  const ids = [...new Set((statusField(pid, field) ?? '').split(/\s+/).filter(Boolean).map(Number))];
  const root = (process.geteuid?.() ?? 0) === 0;
  const mine = field === 'Uid' ? (process.geteuid?.() ?? 0) : (process.getegid?.() ?? 0);
  return (root ? ids : [mine]).map((id) => `${id} ${id} 1\n`).join('');
}

/** The outer PID of I's only child. */
function childOf(pid: number): number {
  const kids = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  if (kids.length !== 1) throw new RemoteError(`exact TIDs: the namespace init ${pid} has ${kids.length} children, expected 1`, 'failed');
  return kids[0]!;
}

/**
 * Steps 2 and 3: in I, /proc for the namespace, the clone C with the target's
 * PID, then I becomes the namespace's init. Returns C's outer PID (C is
 * stopped in its first ptrace stop, which buildClone waits for).
 */
export function makeExactChild(init: TracedTask, f: ThreadState, insn: bigint, callStack: bigint, userns: boolean, initBinary: string, opts: { tree?: boolean } = {}): number {
  const ipid = init.tid;
  if (userns) {
    if ((process.geteuid?.() ?? 0) !== 0) writeFileSync(`/proc/${ipid}/setgroups`, 'deny');
    writeFileSync(`/proc/${ipid}/uid_map`, idMaps(ipid, 'Uid'));
    writeFileSync(`/proc/${ipid}/gid_map`, idMaps(ipid, 'Gid'));
  }
  const mem = new ProcessMemory(ipid);
  try {
    const base = Buffer.from(f.regs);
    setReg(base, 'rsp', callStack);
    const at = scratch(f.regs);
    // C is made by a clone3 in I and copies I's memory: the bytes our arguments cover there go back into C
    const covered = mem.read(at, 128);
    const str = (off: bigint, s: string) => {
      mem.write(at + off, Buffer.from(s + '\0'));
      return at + off;
    };
    const call = (what: string, nr: number, args: (bigint | number)[]) => checkResult(what, ipid, injectSyscall(init, insn, base, nr, args));
    const root = str(0n, '/');
    call('mount(/, MS_REC|MS_PRIVATE)', NR.mount, [0, root, 0, MS_REC | MS_PRIVATE, 0]);
    // a tree's copies open /proc/<original PID>/... while they are made: the
    // namespace's own /proc goes on top only once they are (mountNamespaceProc)
    if (!opts.tree) {
      const proc = str(0n, 'proc');
      const slashProc = str(8n, '/proc');
      call('mount(proc)', NR.mount, [proc, slashProc, proc, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0]);
    }
    let flags = CLONE_PTRACE;
    if (f.clearChildTid) flags |= CLONE_CHILD_CLEARTID;
    mem.write(at, cloneArgs({ flags, exitSignal: SIGCHLD, childTid: f.clearChildTid, setTid: f.tid, at }));
    const inner = injectSyscall(init, insn, base, NR.clone3, [at, 88]);
    if (inner < 0n)
      throw new RemoteError(
        `exact TIDs: clone3 with set_tid=${f.tid} in the namespace init ${ipid} failed: ${errnoName(Number(-inner))}${inner === -1n ? ' (CAP_SYS_ADMIN or CAP_CHECKPOINT_RESTORE over the new PID namespace is missing)' : ''}`,
        'failed',
      );
    if (Number(inner) !== f.tid) throw new RemoteError(`exact TIDs: the clone got PID ${inner} in its namespace, not ${f.tid}`, 'failed');
    const child = childOf(ipid); // stopped and traced by us (CLONE_PTRACE), EXITKILL inherited from I
    const cmem = new ProcessMemory(child);
    try {
      cmem.write(at, covered);
    } finally {
      cmem.close();
    }
    // I keeps its full capabilities in the new user namespace until C exists; then it gets the original's
    if (userns && f.caps) applyCapSteps([{ task: init, base, slot: at, steps: capSteps(freshUserNamespaceCaps(), f.caps) }], insn, mem);
    // a tree's init stays stopped (and ours to collect) until the whole clone tree is made: startInit
    if (!opts.tree) execInit(init, mem, base, at, insn, initBinary, f.tid);
    return child;
  } finally {
    mem.close();
  }
}

/** Step 3 for a tree (makeExactChild with `tree`), once every copy is made: I execs the init program and is let go. */
export function startInit(init: TracedTask, f: ThreadState, insn: bigint, callStack: bigint, initBinary: string): void {
  const mem = new ProcessMemory(init.tid);
  try {
    const base = Buffer.from(f.regs);
    setReg(base, 'rsp', callStack);
    execInit(init, mem, base, scratch(f.regs), insn, initBinary, f.tid);
  } finally {
    mem.close();
  }
}

/**
 * /proc for the namespace, mounted by `task` (the only thread of a process
 * inside it, stopped under us; calls start from `base` and run `insn`) over
 * the /proc its mount namespace inherited; `at`: 16 bytes of its memory the
 * call may use (put back).
 */
export function mountNamespaceProc(task: TracedTask, base: Buffer, insn: bigint, at: bigint): void {
  const mem = new ProcessMemory(task.tid);
  const saved = mem.read(at, 16);
  try {
    mem.write(at, Buffer.from('proc\0/proc\0'));
    checkResult('mount(proc) in the namespace', task.tid, injectSyscall(task, insn, base, NR.mount, [at, at + 5n, at, MS_NOSUID | MS_NODEV | MS_NOEXEC, 0]));
  } finally {
    mem.write(at, saved);
    mem.close();
  }
}

/** I execs the init program; checked at the call's exit stop, then I is let go. */
function execInit(init: TracedTask, mem: ProcessMemory, base: Buffer, at: bigint, insn: bigint, path: string, childPid: number): void {
  if (Buffer.byteLength(path) > 120) throw new RemoteError(`exact TIDs: the init program's path is too long (${path})`, 'failed');
  const pathAt = at;
  const argAt = at + 128n;
  const argvAt = at + 192n;
  mem.write(pathAt, Buffer.from(path + '\0'));
  mem.write(argAt, Buffer.from(`${childPid}\0`));
  const argv = Buffer.alloc(24);
  argv.writeBigUInt64LE(pathAt, 0);
  argv.writeBigUInt64LE(argAt, 8);
  mem.write(argvAt, argv);
  // run with PTRACE_SYSCALL, not a single step: after a successful execve the
  // exit stop is in the new program, where the old `syscall` address means nothing
  pt.setRegs(init.tid, callRegs(base, insn, NR.execve, [pathAt, argvAt, 0]));
  pt.syscall(init.tid);
  init.waitSyscallStop(); // entry
  pt.syscall(init.tid);
  init.waitSyscallStop(); // exit
  const ret = sreg(pt.getRegs(init.tid), 'rax');
  if (ret !== 0n) throw new RemoteError(`exact TIDs: the namespace init could not exec ${path}: ${errnoName(Number(-ret))}`, 'failed');
  init.release();
}
