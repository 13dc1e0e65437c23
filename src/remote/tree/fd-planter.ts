// Putting a descriptor of this process into a stopped copy at a given number:
// the copy takes it with pidfd_getfd (an injected call, with a pidfd of this
// process opened once per copy) and moves it with dup3, which also closes
// whatever the copy had at that number (the original's shared end). In a
// clone tree with exact TIDs the copy cannot name this process by its PID:
// the descriptor goes over an fd relay (fd-relay.ts) instead.
import { reg } from '../regs.js';
import { O_CLOEXEC } from '../../proc/fdinfo.js';
import { callIn } from './copy-calls.js';
import { FdRelay } from './fd-relay.js';
import type { StoppedCopy } from './types.js';

const NR = { close: 3, dup3: 292, pidfd_open: 434, pidfd_getfd: 438 } as const;

export class FdPlanter {
  private readonly pidfds = new Map<StoppedCopy, bigint>();
  private readonly relays = new Map<StoppedCopy, FdRelay>();

  /** `exact`: the copies are in the clone tree's PID namespace (relay the descriptors). */
  constructor(private readonly exact = false) {}

  private take(copy: StoppedCopy, local: number): bigint {
    if (this.exact) {
      let relay = this.relays.get(copy);
      // 1 KB below the copy's call stack: dead stack, put back after each use
      if (!relay) this.relays.set(copy, (relay = new FdRelay({ pid: copy.pid, call: (what, nr, args) => callIn(copy, what, nr, args), scratch: (reg(copy.base, 'rsp') - 1024n) & ~63n })));
      return BigInt(relay.send(local));
    }
    let pidfd = this.pidfds.get(copy);
    if (pidfd === undefined) this.pidfds.set(copy, (pidfd = callIn(copy, `pidfd_open(${process.pid})`, NR.pidfd_open, [process.pid, 0])));
    return callIn(copy, `pidfd_getfd(fd ${local} of PID ${process.pid})`, NR.pidfd_getfd, [pidfd, local, 0]);
  }

  plant(copy: StoppedCopy, local: number, fd: number, cloexec: boolean): void {
    const got = this.take(copy, local);
    callIn(copy, `dup3(${got}, ${fd})`, NR.dup3, [got, fd, cloexec ? O_CLOEXEC : 0]);
    if (got !== BigInt(fd)) callIn(copy, `close(${got})`, NR.close, [got]);
  }

  /** Closes the pidfds and relays in the copies. */
  close(): void {
    for (const [copy, fd] of this.pidfds) {
      try {
        callIn(copy, 'close(pidfd)', NR.close, [fd]);
      } catch {
        // the copy is being given up anyway
      }
    }
    this.pidfds.clear();
    for (const relay of this.relays.values()) {
      try {
        relay.close();
      } catch {
        // the copy is being given up anyway
      }
    }
    this.relays.clear();
  }
}
