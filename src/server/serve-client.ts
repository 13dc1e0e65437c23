// Talking to a template served by `forkall run --serve` (serve.ts) from
// another process: one JSON request, one JSON reply.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import type { ServeReply, ServeRequest } from './serve.js';
import { servePath } from './serve-path.js';

/** Whether process `pid` is a template served by `forkall run --serve` (of this user). */
export const isServed = (pid: number): boolean => existsSync(servePath(pid));

export class ServeError extends Error {
  /** nobody listens on the socket: a template that died without removing it */
  constructor(message: string, readonly stale = false) {
    super(message);
  }
}

/** Sends one request to the served template `pid` and resolves with its reply. */
export function askServed(pid: number, req: ServeRequest, timeoutMs = 30_000): Promise<ServeReply> {
  const path = servePath(pid);
  return new Promise<ServeReply>((resolve, reject) => {
    const c = connect(path);
    let buf = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new ServeError(`template ${pid} did not answer within ${timeoutMs} ms (${path})`));
    }, timeoutMs);
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      c.end();
      try {
        resolve(JSON.parse(buf.slice(0, nl)) as ServeReply);
      } catch {
        reject(new ServeError(`template ${pid} sent a reply that is not JSON`));
      }
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const stale = e.code === 'ECONNREFUSED' || e.code === 'ENOENT';
      reject(new ServeError(stale ? `no template is served as PID ${pid} (${path}: ${e.code})` : `${path}: ${e.message}`, stale));
    });
    c.on('close', () => {
      clearTimeout(timer);
      reject(new ServeError(`template ${pid} closed the connection without a reply`));
    });
  });
}
