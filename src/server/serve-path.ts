// Where a served template listens, and who is talking to it. A template
// started by `forkall run --serve` answers on a unix socket named after its
// PID in a directory only its user can enter; each connection is also checked
// with SO_PEERCRED, so only that user (or root) can snapshot or clone it.
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { lastErrno, libc } from '../native/libc.js';
const getsockopt = libc.func('int getsockopt(int fd, int level, int name, void *value, void *len)') as (
  fd: number,
  level: number,
  name: number,
  value: Buffer,
  len: Buffer,
) => number;
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

const uid = () => process.getuid?.() ?? 0;

/** The directory of served templates' sockets: $XDG_RUNTIME_DIR/forkall, else /tmp/forkall-<uid>. */
export function serveDir(): string {
  const base = process.env.XDG_RUNTIME_DIR;
  return base ? join(base, 'forkall') : `/tmp/forkall-${uid()}`;
}

export const servePath = (pid: number): string => join(serveDir(), `${pid}.sock`);

/** Makes the directory (mode 0700) and refuses one that another user owns or others can enter. */
export function ensureServeDir(): string {
  const dir = serveDir();
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = statSync(dir);
  if (st.uid !== uid() || (st.mode & 0o077) !== 0)
    throw new Error(`${dir} must be a directory of uid ${uid()} with mode 0700 (it is uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`);
  return dir;
}

/** The uid of the process at the other end of the unix socket `fd`. */
export function peerUid(fd: number): number {
  const cred = Buffer.alloc(12); // struct ucred: pid, uid, gid
  const len = Buffer.alloc(4);
  len.writeUInt32LE(12, 0);
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, cred, len) < 0) throw new Error(`SO_PEERCRED failed (errno ${lastErrno()})`);
  return cred.readUInt32LE(4);
}
