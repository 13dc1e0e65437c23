// Talking to a template served by `forkall run --serve` (serve.ts) from
// another process: one JSON request, one JSON reply.
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import type { ServeReply, ServeRequest } from './serve.js';
import type { ExploreProgress, ExploreReply, ExploreRequest } from './serve-explore.js';
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
  return request<ServeReply>(pid, req, timeoutMs);
}

/**
 * Asks the served template `pid` to explore its frozen state (or replay one
 * seed); progress lines go to `onProgress`. `quietMs` bounds the silence
 * between lines (progress comes every 200 ms or so while runs end).
 */
export function exploreServed(pid: number, req: ExploreRequest, onProgress: (p: ExploreProgress['progress']) => void, quietMs = 120_000): Promise<ExploreReply> {
  return request<ExploreReply>(pid, req, quietMs, (line) => {
    const p = (line as Partial<ExploreProgress>).progress;
    if (!p) return false;
    onProgress(p);
    return true;
  });
}

/** One request; each line the template sends is offered to `interim` first, the first it declines is the reply. */
function request<R>(pid: number, req: object, timeoutMs: number, interim: (line: unknown) => boolean = () => false): Promise<R> {
  const path = servePath(pid);
  return new Promise<R>((resolve, reject) => {
    const c = connect(path);
    let buf = '';
    let timer: NodeJS.Timeout;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        c.destroy();
        reject(new ServeError(`template ${pid} did not answer within ${timeoutMs} ms (${path})`));
      }, timeoutMs);
    };
    arm();
    c.setEncoding('utf8');
    c.on('connect', () => c.write(JSON.stringify(req) + '\n'));
    c.on('data', (d: string) => {
      buf += d;
      arm();
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const text = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let line: unknown;
        try {
          line = JSON.parse(text);
        } catch {
          clearTimeout(timer);
          c.destroy();
          return reject(new ServeError(`template ${pid} sent a reply that is not JSON`));
        }
        if (interim(line)) continue;
        clearTimeout(timer);
        c.end();
        return resolve(line as R);
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
