// Small clients with timeouts for the servers the remote engine clones while
// they serve (test/servers-remote.test.ts): one request per fresh TCP
// connection, and a bounded loop that spreads requests until every expected
// process has answered.
import { createConnection, createServer } from 'node:net';
import { readlinkSync } from 'node:fs';

/** Sends `text` to 127.0.0.1:`port` on a new connection; resolves with the reply once it matches `until`. */
export function ask(port: number, text: string, until: RegExp | ((got: string) => boolean), timeoutMs = 10_000): Promise<string> {
  const complete = typeof until === 'function' ? until : (g: string) => until.test(g);
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`port ${port} did not answer ${JSON.stringify(text.slice(0, 40))} within ${timeoutMs} ms (got ${JSON.stringify(got.slice(0, 200))})`));
    }, timeoutMs);
    s.on('data', (d) => {
      got += d;
      if (complete(got)) {
        clearTimeout(timer);
        s.destroy();
        resolve(got);
      }
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(text);
  });
}

/** GET `path` over HTTP/1.0 (the server closes the connection); resolves with the body. */
export async function httpGet(port: number, path = '/', timeoutMs = 10_000): Promise<string> {
  const r = await askUntilClosed(port, `GET ${path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n`, timeoutMs);
  const at = r.indexOf('\r\n\r\n');
  if (!/^HTTP\/1\.[01] 200/.test(r) || at < 0) throw new Error(`port ${port}: not a 200 answer: ${JSON.stringify(r.slice(0, 200))}`);
  return r.slice(at + 4);
}

function askUntilClosed(port: number, text: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = createConnection({ port, host: '127.0.0.1' });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`port ${port} did not answer ${JSON.stringify(text.split('\r\n')[0])} within ${timeoutMs} ms (got ${JSON.stringify(got.slice(0, 200))})`));
    }, timeoutMs);
    s.on('data', (d) => (got += d));
    s.on('end', () => {
      clearTimeout(timer);
      resolve(got);
    });
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.write(text);
  });
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      srv.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** How a fixture names the process that answered: `<pid>@<pid namespace>` (exact-TID clones keep the PID). */
export const processId = (pid: number): string => `${pid}@${readlinkSync(`/proc/${pid}/ns/pid`)}`;

export interface Spread {
  /** answers per process id */
  counts: Map<string, number>;
  requests: number;
}

/**
 * Sends requests (each on a fresh connection, `parallel` at a time) until
 * every id in `want` has answered at least once and at least `min` requests
 * were made; fails at the first request that is not answered, when an answer
 * names a process not in `want`, or after `max` requests or `timeoutMs`.
 */
export async function spreadUntilAll(request: () => Promise<string>, want: string[], opts: { min?: number; max?: number; parallel?: number; timeoutMs?: number } = {}): Promise<Spread> {
  const min = opts.min ?? 20;
  const max = opts.max ?? 400;
  const parallel = opts.parallel ?? 4;
  const deadline = Date.now() + (opts.timeoutMs ?? 90_000);
  const counts = new Map<string, number>();
  let requests = 0;
  const done = () => requests >= min && want.every((w) => counts.has(w));
  while (!done()) {
    if (requests >= max || Date.now() > deadline)
      throw new Error(`after ${requests} requests (all answered) not every process answered: wanted ${want.join(', ')}, got ${JSON.stringify([...counts])}`);
    const batch = await Promise.all(Array.from({ length: parallel }, () => request()));
    requests += batch.length;
    for (const id of batch) {
      if (!want.includes(id)) throw new Error(`an answer came from ${id}, which is none of ${want.join(', ')}`);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  return { counts, requests };
}
