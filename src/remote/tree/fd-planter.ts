// Putting a descriptor of this process into a stopped copy at a given number:
// the copy takes it with pidfd_getfd (an injected call, with a pidfd of this
// process opened once per copy) and moves it with dup3, which also closes
// whatever the copy had at that number (the original's shared end).
import { O_CLOEXEC } from '../../proc/fdinfo.js';
import { callIn } from './copy-calls.js';
import type { StoppedCopy } from './types.js';

const NR = { close: 3, dup3: 292, pidfd_open: 434, pidfd_getfd: 438 } as const;

export class FdPlanter {
  private readonly pidfds = new Map<StoppedCopy, bigint>();

  plant(copy: StoppedCopy, local: number, fd: number, cloexec: boolean): void {
    let pidfd = this.pidfds.get(copy);
    if (pidfd === undefined) this.pidfds.set(copy, (pidfd = callIn(copy, `pidfd_open(${process.pid})`, NR.pidfd_open, [process.pid, 0])));
    const got = callIn(copy, `pidfd_getfd(fd ${local} of PID ${process.pid})`, NR.pidfd_getfd, [pidfd, local, 0]);
    callIn(copy, `dup3(${got}, ${fd})`, NR.dup3, [got, fd, cloexec ? O_CLOEXEC : 0]);
    if (got !== BigInt(fd)) callIn(copy, `close(${got})`, NR.close, [got]);
  }

  /** Closes the pidfds in the copies. */
  close(): void {
    for (const [copy, fd] of this.pidfds) {
      try {
        callIn(copy, 'close(pidfd)', NR.close, [fd]);
      } catch {
        // the copy is being given up anyway
      }
    }
    this.pidfds.clear();
  }
}
