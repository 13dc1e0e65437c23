// Installing private copies of the original's event objects in a clone, before
// any of its threads runs. Only what the clone itself must do is an injected
// call in its (stopped) main task: creating each object, putting it at the
// original's descriptor numbers with dup3 (close-on-exec as it was), and
// epoll_ctl, which keys an item by the fd number it was added with. The rest
// (counters, timer settings, file status flags, buffered pipe bytes, inotify
// watches) the tracer sets on a pidfd_getfd copy of the clone's descriptor,
// which is the same open file.
import { InjectedCallFailed } from '../inject.js';
import { createEpoll, addItem, createEndedConnection, createEventfd, createPipe, createSignalfd, createSocketpair, createTimerfd } from './create-objects.js';
import { createInotify } from './inotify-copy.js';
import { Installer, type CloneSide } from './installer.js';
import type { NotCopied, PrivateObject, PrivatePlan } from './plan.js';

export type { CloneSide } from './installer.js';

/**
 * Gives the stopped clone its own copy of every object in `plan`, at the same
 * descriptor numbers. Returns what could not be copied faithfully (added to
 * the plan's own list). A timerfd whose clock the kernel refuses stays shared
 * and is named; any other failure throws (the caller kills the clone).
 */
export function installPrivateFds(c: CloneSide, plan: PrivatePlan): NotCopied[] {
  const ins = new Installer(c);
  try {
    const made: (PrivateObject & { kind: 'epoll' })[] = [];
    for (const o of plan.objects) {
      try {
        if (o.kind === 'eventfd') createEventfd(ins, o);
        else if (o.kind === 'timerfd') createTimerfd(ins, o);
        else if (o.kind === 'signalfd') createSignalfd(ins, o, c);
        else if (o.kind === 'inotify') createInotify(ins, o);
        else if (o.kind === 'pipe') createPipe(ins, o, c);
        else if (o.kind === 'socketpair') createSocketpair(ins, o, c);
        else if (o.kind === 'connection') createEndedConnection(ins, o, c);
        else {
          createEpoll(ins, o);
          made.push(o);
        }
      } catch (e) {
        // only a timerfd is made before its number is freed (an alarm clock may be refused)
        if (!(e instanceof InjectedCallFailed) || !e.call.startsWith('timerfd_create')) throw e;
        ins.notCopied.push({ fd: o.fds[0]!.fd, kind: o.kind, reason: `the clone could not create its own (${e.call} failed with errno ${e.errno}): shared with the original`, effect: 'shared' });
      }
    }
    // every target exists now (private copies included, epoll in epoll too)
    for (const o of made) {
      const efd = o.fds[0]!.fd;
      for (const it of o.items) {
        try {
          addItem(ins, efd, it, c);
        } catch (e) {
          if (!(e instanceof InjectedCallFailed) || !e.call.startsWith('epoll_ctl')) throw e;
          ins.notCopied.push({ fd: efd, kind: 'epoll item', reason: `item for fd ${it.tfd} could not be added (errno ${e.errno})`, effect: 'dropped' });
        }
      }
    }
    return [...plan.notCopied, ...ins.notCopied];
  } finally {
    ins.close();
  }
}
