// Readers of /proc/<pid>/fd and /proc/<pid>/fdinfo: what each descriptor of a
// process is, and the state the kernel shows for event objects (epoll interest
// lists, eventfd counters, timerfd settings, signalfd masks, inotify watches).
// Formats (kernel 6.x): fs/eventpoll.c, fs/eventfd.c, fs/timerfd.c,
// fs/signalfd.c, fs/notify/fdinfo.c.
import { closeSync, openSync, readdirSync, readlinkSync, readSync } from 'node:fs';

export type FdKind = 'epoll' | 'eventfd' | 'timerfd' | 'signalfd' | 'inotify' | 'io_uring' | 'pipe' | 'socket' | 'other';

export interface FdEntry {
  fd: number;
  /** the /proc/<pid>/fd link text, e.g. "anon_inode:[eventpoll]", "pipe:[1234]" */
  link: string;
  kind: FdKind;
}

export interface EpollItem {
  /** the fd number given to EPOLL_CTL_ADD (it may since have been closed or reused) */
  tfd: number;
  events: number;
  data: bigint;
  /** the target file's position, inode and device: identity when tfd no longer names it */
  pos: bigint;
  ino: bigint;
  sdev: number;
}

export interface TimerfdInfo {
  clockid: number;
  ticks: bigint;
  /** TFD_TIMER_ABSTIME (1) | TFD_TIMER_CANCEL_ON_SET (2) as last set */
  settimeFlags: number;
  /** time remaining until the next expiry (also for absolute timers), 0 when disarmed */
  value: { sec: bigint; nsec: bigint };
  interval: { sec: bigint; nsec: bigint };
}

export interface InotifyWatch {
  wd: number;
  ino: bigint;
  sdev: number;
  mask: number;
  ignoredMask: number;
  /** file handle for open_by_handle_at, when the kernel could encode one */
  handle?: { type: number; bytes: Buffer };
}

/** Common fields of every fdinfo file. */
export interface FdInfo {
  pos: bigint;
  /** open file status flags and O_CLOEXEC (octal in the file) */
  flags: number;
  mntId: number;
  ino: bigint;
  /** the rest, raw, for the kind-specific parsers below */
  text: string;
}

export const O_ACCMODE = 3;
export const O_WRONLY = 1;
export const O_NONBLOCK = 0o4000;
export const O_DIRECT = 0o40000;
export const O_CLOEXEC = 0o2000000;

function kindOf(link: string): FdKind {
  if (link === 'anon_inode:[eventpoll]') return 'epoll';
  if (link === 'anon_inode:[eventfd]') return 'eventfd';
  if (link === 'anon_inode:[timerfd]') return 'timerfd';
  if (link === 'anon_inode:[signalfd]') return 'signalfd';
  if (link === 'anon_inode:inotify') return 'inotify';
  if (link === 'anon_inode:[io_uring]') return 'io_uring';
  if (link.startsWith('pipe:[')) return 'pipe';
  if (link.startsWith('socket:[')) return 'socket';
  return 'other';
}

/** Every open descriptor of `pid`, in fd order (ones closed while reading are left out). */
export function listFds(pid: number): FdEntry[] {
  const out: FdEntry[] = [];
  for (const name of readdirSync(`/proc/${pid}/fd`)) {
    const fd = Number(name);
    let link: string;
    try {
      link = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    out.push({ fd, link, kind: kindOf(link) });
  }
  return out.sort((a, b) => a.fd - b.fd);
}

/** The inode number in a "pipe:[N]" or "socket:[N]" link. */
export const linkInode = (link: string): bigint => BigInt(/\[(\d+)\]/.exec(link)?.[1] ?? '0');

const field = (text: string, name: string): string | undefined => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(text)?.[1]?.trim();

const infoBuf = Buffer.alloc(1 << 16);

/** /proc/<pid>/fdinfo/<fd> (read with one buffer: it is read for many descriptors while a process is held). */
export function readFdInfo(pid: number, fd: number): FdInfo {
  const f = openSync(`/proc/${pid}/fdinfo/${fd}`, 'r');
  try {
    let n = 0;
    for (let got; n < infoBuf.length && (got = readSync(f, infoBuf, n, infoBuf.length - n, null)) > 0; ) n += got;
    if (n < infoBuf.length) return parseFdInfo(infoBuf.toString('utf8', 0, n));
    // an epoll instance with a very long interest list
    const chunks = [Buffer.from(infoBuf)];
    const more = Buffer.alloc(1 << 16);
    for (let got; (got = readSync(f, more, 0, more.length, null)) > 0; ) chunks.push(Buffer.from(more.subarray(0, got)));
    return parseFdInfo(Buffer.concat(chunks).toString('utf8'));
  } finally {
    closeSync(f);
  }
}

export function parseFdInfo(text: string): FdInfo {
  return {
    pos: BigInt(field(text, 'pos') ?? '0'),
    flags: parseInt(field(text, 'flags') ?? '0', 8),
    mntId: Number(field(text, 'mnt_id') ?? '0'),
    ino: BigInt(field(text, 'ino') ?? '0'),
    text,
  };
}

/** `tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x`, one line per item. */
export function epollItems(info: FdInfo): EpollItem[] {
  const re = /^tfd:\s*(\d+)\s+events:\s*([0-9a-f]+)\s+data:\s*([0-9a-f]+)\s+pos:(-?\d+)\s+ino:([0-9a-f]+)\s+sdev:([0-9a-f]+)/gm;
  const items: EpollItem[] = [];
  for (const m of info.text.matchAll(re))
    items.push({ tfd: Number(m[1]), events: parseInt(m[2]!, 16), data: BigInt('0x' + m[3]), pos: BigInt(m[4]!), ino: BigInt('0x' + m[5]), sdev: parseInt(m[6]!, 16) });
  return items;
}

/** `eventfd-count: %16llx` (hex) and, since 6.5, `eventfd-semaphore: %d`. */
export function eventfdState(info: FdInfo): { count: bigint; semaphore: boolean | undefined } {
  const sem = field(info.text, 'eventfd-semaphore');
  return { count: BigInt('0x' + (field(info.text, 'eventfd-count') ?? '0')), semaphore: sem === undefined ? undefined : sem === '1' };
}

const timespec = (s: string | undefined) => {
  const m = /\((\d+),\s*(\d+)\)/.exec(s ?? '');
  return { sec: BigInt(m?.[1] ?? '0'), nsec: BigInt(m?.[2] ?? '0') };
};

export function timerfdState(info: FdInfo): TimerfdInfo {
  return {
    clockid: Number(field(info.text, 'clockid') ?? '0'),
    ticks: BigInt(field(info.text, 'ticks') ?? '0'),
    settimeFlags: parseInt(field(info.text, 'settime flags') ?? '0', 8),
    value: timespec(field(info.text, 'it_value')),
    interval: timespec(field(info.text, 'it_interval')),
  };
}

/** `sigmask: %016llx`: the mask the program gave signalfd(). */
export const signalfdMask = (info: FdInfo): bigint => BigInt('0x' + (field(info.text, 'sigmask') ?? '0'));

/** `inotify wd:%x ino:%lx sdev:%x mask:%x ignored_mask:%x [fhandle-bytes:%x fhandle-type:%x f_handle:%s]` */
export function inotifyWatches(info: FdInfo): InotifyWatch[] {
  const re = /^inotify wd:([0-9a-f]+) ino:([0-9a-f]+) sdev:([0-9a-f]+) mask:([0-9a-f]+) ignored_mask:([0-9a-f]+)(?: fhandle-bytes:([0-9a-f]+) fhandle-type:([0-9a-f]+) f_handle:([0-9a-f]+))?/gm;
  const out: InotifyWatch[] = [];
  for (const m of info.text.matchAll(re)) {
    const w: InotifyWatch = { wd: parseInt(m[1]!, 16), ino: BigInt('0x' + m[2]), sdev: parseInt(m[3]!, 16), mask: parseInt(m[4]!, 16), ignoredMask: parseInt(m[5]!, 16) };
    if (m[6]) w.handle = { type: parseInt(m[7]!, 16), bytes: Buffer.from(m[8]!, 'hex').subarray(0, parseInt(m[6], 16)) };
    out.push(w);
  }
  return out;
}
