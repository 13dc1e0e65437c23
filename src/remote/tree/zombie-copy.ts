// The copy of a zombie: a child of its parent's copy that ends, before the
// tree is let go, with the status the zombie's parent has yet to collect
// (/proc/Z/stat exit_code). It stays unreaped, as the original does. A
// signal death is played by the signal itself, with its default action and
// no core file (RLIMIT_CORE 0): the core-dump bit of the status is lost.
import { readFileSync } from 'node:fs';
import * as pt from '../ptrace.js';
import { reg } from '../regs.js';
import { startCall, passEntry } from '../inject.js';
import { ProcessMemory } from '../memory.js';
import { RemoteError } from '../errors.js';
import { TracedTask } from '../task.js';
import { waitLeader } from '../wait.js';
import { callIn, NR_TREE } from './copy-calls.js';
import { exactFork } from './exact-fork.js';
import type { StoppedCopy } from './types.js';

const CLONE_PTRACE = 0x2000;
const SIGCHLD = 17;
const RLIMIT_CORE = 4;

export interface ZombieCopy extends StoppedCopy {
  /** the original zombie */
  of: number;
  status: number;
  /** its PID as it sees itself (in the clone tree's namespace with exact TIDs: `of`) */
  ownPid: number;
}

/** Forks the child that will play zombie `of` (stopped, still to end: finishZombie); `exact`: with PID `of` in the tree's namespace. */
export function forkZombieCopy(parent: StoppedCopy, of: number, status: number, exact = false): ZombieCopy {
  // no stack of its own: it runs no user instruction, only the calls injected here
  const pid = exact
    ? exactFork(parent, of, SIGCHLD, `the copy of zombie ${of}`)
    : Number(callIn(parent, `clone (the copy of zombie ${of})`, NR_TREE.clone, [CLONE_PTRACE | SIGCHLD, 0, 0, 0, 0]));
  const main = new TracedTask(pid, pid);
  main.waitEventStop();
  return { pid, main, base: parent.base, insn: parent.insn, of, status, ownPid: exact ? of : pid };
}

/** Ends the copy with the zombie's status; it stays a zombie of its parent's copy. */
export function finishZombie(z: ZombieCopy): void {
  const sig = z.status & 0x7f;
  if (sig === 0) {
    startCall({ task: z.main, base: z.base, nr: NR_TREE.exit_group, args: [(z.status >> 8) & 0xff] }, z.insn);
    passEntry({ task: z.main, base: z.base, nr: NR_TREE.exit_group, args: [] });
  } else {
    // 32 zero bytes below the call stack: struct sigaction {SIG_DFL} and struct rlimit {0, 0}
    const scratch = (reg(z.base, 'rsp') - 1024n) & ~63n;
    const mem = new ProcessMemory(z.pid);
    try {
      mem.write(scratch, Buffer.alloc(32));
    } finally {
      mem.close();
    }
    callIn(z, 'setrlimit(RLIMIT_CORE)', NR_TREE.setrlimit, [RLIMIT_CORE, scratch]);
    if (sig !== 9 && sig !== 19) callIn(z, `rt_sigaction(${sig}, SIG_DFL)`, NR_TREE.rt_sigaction, [sig, scratch, 0, 8]);
    pt.setSigmask(z.pid, Buffer.alloc(8));
    // the call may not come back (SIGKILL ends it in the kernel): collected below with the death
    const kill = { task: z.main, base: z.base, nr: NR_TREE.tgkill, args: [z.ownPid, z.ownPid, sig] };
    startCall(kill, z.insn);
    passEntry(kill);
  }
  // we trace it: collect its end (the status then goes to its parent, which has not reaped it)
  for (let w = waitLeader(z.pid); ; w = waitLeader(z.pid)) {
    if (w.kind === 'exited' || w.kind === 'killed') break;
    pt.cont(z.pid, w.event === 0 && w.sig !== 5 && w.sig !== (5 | 0x80) ? w.sig : 0);
  }
  z.main.detached = true;
  const now = readStatus(z.pid);
  if (now !== z.status && !(sig && (now & 0x7f) === sig))
    throw new RemoteError(`the copy ${z.pid} of zombie ${z.of} ended with status 0x${now.toString(16)}, not 0x${z.status.toString(16)}`, 'failed');
}

function readStatus(pid: number): number {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(text.slice(text.lastIndexOf(')') + 2).split(' ')[49]);
}
