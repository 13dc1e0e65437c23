// Copying an inotify instance's watches into the clone's own instance: each
// watched inode is reopened from its file handle (open_by_handle_at, which
// needs CAP_DAC_READ_SEARCH) and watched again with the same number
// (INOTIFY_IOC_SETNEXTWD) and mask. Queued events are not copied.
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { InotifyWatch } from '../../proc/fdinfo.js';
import { SyscallError } from '../libc.js';
import { closeQuietly, inotifyAddWatch, INOTIFY_IOC_SETNEXTWD, ioctlNum, openByHandle } from './fd-syscalls.js';
import { NR, type Installer } from './installer.js';
import type { PrivateObject } from './plan.js';

const O_PATH = 0o10000000;

/** A mount point (in our mount namespace) of the device `sdev` (kernel dev_t: major << 20 | minor). */
function mountOf(sdev: number): string | undefined {
  const want = `${sdev >>> 20}:${sdev & 0xfffff}`;
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const f = line.split(' ');
    if (f[2] === want) return f[4]!.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
  }
  return undefined;
}

/** Adds watch `w` to the inotify instance `local` with its original number; why not, if it cannot. */
function addWatch(local: number, w: InotifyWatch): string | undefined {
  if (!w.handle) return 'the kernel gave no file handle for its inode';
  const mount = mountOf(w.sdev);
  if (!mount) return `no mount of device ${w.sdev >>> 20}:${w.sdev & 0xfffff} is visible to forkall`;
  let mfd = -1;
  let pfd = -1;
  try {
    mfd = openSync(mount, 'r');
    pfd = openByHandle(mfd, w.handle.type, w.handle.bytes, O_PATH);
    ioctlNum(local, INOTIFY_IOC_SETNEXTWD, w.wd, 'INOTIFY_IOC_SETNEXTWD');
    const wd = inotifyAddWatch(local, `/proc/self/fd/${pfd}`, w.mask);
    return wd === w.wd ? undefined : `it got watch descriptor ${wd}, not ${w.wd}`;
  } catch (e) {
    return e instanceof SyscallError ? `${e.message}${e.what === 'open_by_handle_at' ? ' (reopening by handle needs CAP_DAC_READ_SEARCH)' : ''}` : String(e);
  } finally {
    if (mfd >= 0) closeSync(mfd);
    closeQuietly(pfd);
  }
}

export function createInotify(ins: Installer, o: PrivateObject & { kind: 'inotify' }): void {
  const fd = o.fds[0]!.fd;
  ins.single((cloexec) => ins.call('inotify_init1', NR.inotifyInit1, [cloexec]), o.fds);
  ins.withLocal(fd, (local) => {
    ins.setStatus(local, o.statusFlags, { fd, kind: o.kind });
    for (const w of [...o.watches].sort((a, b) => a.wd - b.wd)) {
      const why = addWatch(local, w);
      if (why) ins.notCopied.push({ fd, kind: 'inotify watch', reason: `watch ${w.wd} (inode ${w.ino}) not copied: ${why}`, effect: 'dropped' });
    }
  });
}
