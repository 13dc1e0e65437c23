// The file shared with libforkall-sched.so (native/explore/explore.h): the
// driver arms it once the template is frozen and sets the seeds; each clone
// claims a seed when it activates and records it under its PID.
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, readSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

const MAGIC = 0x58454146; // "FAEX"
const TABLE = 4096;
// offsets in struct fa_explore_shared
const DEADLOCK_BIT = 1n << 63n; // set by a clone whose scheduler found every thread blocked
const ARMED = 4, TEMPLATE_PID = 8, REPLAY = 12, BASE_SEED = 16, NEXT_SLOT = 24, PIDS = 32;

const zero8 = Buffer.alloc(8);

function pidMax(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) || 4194304;
  } catch {
    return 4194304;
  }
}

export class Mailbox {
  readonly path: string;
  private readonly fd: number;
  private readonly pids: number;
  /** read buffer of takeSeed (once per run) */
  private readonly entry = Buffer.alloc(8);

  constructor() {
    const dir = existsSync('/dev/shm') ? '/dev/shm' : tmpdir();
    this.path = join(dir, `forkall-explore-${process.pid}-${randomBytes(4).toString('hex')}`);
    this.fd = openSync(this.path, 'wx+', 0o600);
    this.pids = pidMax() + 1;
    ftruncateSync(this.fd, TABLE + this.pids * 8); // sparse: only the pages clones touch exist
    const head = Buffer.alloc(40);
    head.writeUInt32LE(MAGIC, 0);
    head.writeUInt32LE(this.pids, PIDS);
    writeSync(this.fd, head, 0, head.length, 0);
  }

  private put(buf: Buffer, at: number): void {
    writeSync(this.fd, buf, 0, buf.length, at);
  }

  /** Every later clone runs `seed` (replay) or base + n, n counting activations. */
  setSeeds(base: bigint, replay: boolean): void {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(base);
    this.put(b, BASE_SEED);
    const r = Buffer.alloc(4);
    r.writeUInt32LE(replay ? 1 : 0);
    this.put(r, REPLAY);
    this.put(Buffer.alloc(8), NEXT_SLOT);
  }

  /** The template is frozen: clones of it (any other PID) perturb their schedule from now on. */
  arm(templatePid: number): void {
    const b = Buffer.alloc(4);
    b.writeUInt32LE(templatePid);
    this.put(b, TEMPLATE_PID);
    b.writeUInt32LE(1);
    this.put(b, ARMED);
  }

  /** Clones made from now on run as plain clones again (a served template between explorations). */
  disarm(): void {
    this.put(Buffer.alloc(4), ARMED);
  }

  /**
   * The seed the clone with this PID ran (null when it never reached a
   * synchronisation point) and whether its scheduler found it deadlocked
   * (every thread blocked on a wrapped primitive); clears the entry.
   */
  takeSeed(pid: number): { seed: bigint | null; deadlock: boolean } {
    if (pid <= 0 || pid >= this.pids) return { seed: null, deadlock: false };
    const b = this.entry;
    if (readSync(this.fd, b, 0, 8, TABLE + pid * 8) !== 8) return { seed: null, deadlock: false };
    const v = b.readBigUInt64LE();
    if (v === 0n) return { seed: null, deadlock: false };
    this.put(zero8, TABLE + pid * 8);
    return { seed: (v & ~DEADLOCK_BIT) - 1n, deadlock: (v & DEADLOCK_BIT) !== 0n };
  }

  /** Removes the name once every process that needs it has mapped the file (the template has, at load time): nothing is left behind if forkall is killed. */
  unlink(): void {
    try {
      unlinkSync(this.path);
    } catch {
      /* already gone */
    }
  }

  close(): void {
    closeSync(this.fd);
    this.unlink();
  }
}
