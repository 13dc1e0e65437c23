// What a clone gets as private copies of the original's event objects, read
// while the original is held (snapshot-fds.ts) and installed in each clone
// before any of its threads runs (install-fds.ts).
import type { InotifyWatch, TimerfdInfo } from '../../proc/fdinfo.js';

/** One descriptor number holding a private object, and its close-on-exec flag. */
export interface FdSlot {
  fd: number;
  cloexec: boolean;
}

export interface PlannedItem {
  /** the fd number the item is keyed by (EPOLL_CTL_ADD's fd) */
  tfd: number;
  events: number;
  data: bigint;
  /** a descriptor of the process holding the target file: tfd itself unless tfd was closed or reused */
  holder: number;
  /** holder !== tfd: what tfd is in the process (undefined: not open), put back after the item is added */
  tfdSlot?: FdSlot;
}

interface Base {
  /** every descriptor of the original that refers to this object (dups), lowest first */
  fds: FdSlot[];
  /** file status flags (O_NONBLOCK, O_DIRECT, ...), from fdinfo */
  statusFlags: number;
}

export type PrivateObject =
  | (Base & { kind: 'eventfd'; count: bigint; semaphore: boolean })
  | (Base & { kind: 'timerfd'; timer: TimerfdInfo; /** the timer's clock when its fdinfo was read (ns) */ readAtNs: bigint })
  | (Base & { kind: 'signalfd'; mask: bigint })
  | (Base & { kind: 'inotify'; watches: InotifyWatch[] })
  | (Base & { kind: 'epoll'; items: PlannedItem[] })
  | (Base & { kind: 'pipe'; write: FdSlot[]; writeStatusFlags: number; size: number; bytes: Buffer })
  /** a TCP connection of the original's: the clone gets a stream whose peer has gone (snapshot-connections.ts) */
  | (Base & { kind: 'connection'; peer: string })
  | (Base & {
      kind: 'socketpair';
      /** SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET */
      type: number;
      /** the descriptors of the other end */
      other: FdSlot[];
      otherStatusFlags: number;
      /** stream bytes waiting to be read at `fds` and at `other` */
      toFirst: Buffer;
      toOther: Buffer;
    });

/** How a descriptor that was not copied faithfully behaves in the clone. */
export type NotCopiedEffect = 'shared' | 'approximate' | 'dropped';

export interface NotCopied {
  fd: number;
  kind: string;
  reason: string;
  /** shared: the clone shares it with the original, as after fork; approximate: copied with the difference named; dropped: left out of the copy */
  effect: NotCopiedEffect;
}

export interface PrivatePlan {
  objects: PrivateObject[];
  notCopied: NotCopied[];
}
