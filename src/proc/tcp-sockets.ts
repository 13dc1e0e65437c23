// The TCP sockets of a network namespace, from /proc/PID/net/tcp and tcp6
// (the namespace of PID): inode -> state and addresses.

import { readFileSync } from 'node:fs';

/** TCP states as the kernel numbers them in /proc/net/tcp. */
export const TCP_LISTEN = 0x0a;

export interface TcpSocket {
  state: number;
  /** "address:port" in the kernel's hex notation, as the file shows it */
  local: string;
  remote: string;
}

function hexAddress(a: string): string {
  const [ip, port] = a.split(':') as [string, string];
  const p = parseInt(port, 16);
  if (ip.length === 8) return `${[0, 2, 4, 6].map((i) => parseInt(ip.slice(6 - i, 8 - i), 16)).join('.')}:${p}`;
  return `[${ip}]:${p}`; // IPv6: four host-order words; shown raw
}

/** Every TCP socket (v4 and v6) of the network namespace `pid` is in, by inode. */
export function tcpSockets(pid: number): Map<bigint, TcpSocket> {
  const out = new Map<bigint, TcpSocket>();
  for (const file of ['tcp', 'tcp6']) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue; // no IPv6 in this kernel
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      out.set(BigInt(f[9]!), { state: parseInt(f[3]!, 16), local: hexAddress(f[1]!), remote: hexAddress(f[2]!) });
    }
  }
  return out;
}
