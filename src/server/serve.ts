// `forkall run --serve`: a frozen template that answers snapshot and clone
// requests from other forkall commands (`forkall snapshot -p`, `forkall clone
// -p`) until the controller ends. Requests and replies are JSON lines on the
// template's unix socket (serve-path.ts).
import { chmodSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { NotCopied } from '../remote/private/plan.js';
import type { Template } from './template.js';
import { ensureServeDir, peerUid, servePath } from './serve-path.js';
import { MAX_CLONES_PER_REQUEST, parseServeRequest, type ServeRequest } from './serve-request.js';
import type { ExploreProgress, ExploreReply, ExploreRequest } from './serve-explore.js';

export type { ServeRequest } from './serve-request.js';
export type ServeReply =
  | { ok: true; threads: number; clones?: { pid: number; threads: number; notCopied: NotCopied[] }[] }
  | { ok: false; error: string };

/** What is served: the agent's template, or anything that clones like it (a program held from outside). */
export type ServeTarget = Pick<Template, 'requestSnapshot' | 'isFrozen' | 'pid' | 'clone' | 'threads'> & {
  process: { pid?: number };
  /** present when the program was started with the scheduler (`--explorable`): runs an exploration of the frozen state */
  explore?(req: ExploreRequest, progress: (p: ExploreProgress) => void): Promise<ExploreReply>;
};

export interface ServeEvents {
  frozen?(threads: number): void;
  cloned?(pid: number, threads: number): void;
  exited?(pid: number, exitCode: number | null, signal: string | null): void;
}

async function answer(t: ServeTarget, req: ServeRequest, events: ServeEvents, send: (line: object) => void): Promise<ServeReply | ExploreReply> {
  if (req.op === 'explore') {
    if (!t.explore) return { ok: false, error: `template ${t.pid} was not started with the scheduler: serve it with forkall run --serve --explorable -- PROGRAM` };
    if (!t.isFrozen) return { ok: false, error: `template ${t.pid} is not frozen yet (forkall snapshot -p ${t.pid})` };
    return t.explore(req, send);
  }
  if (req.op === 'snapshot') {
    const threads = await t.requestSnapshot();
    events.frozen?.(threads);
    return { ok: true, threads };
  }
  if (req.op === 'clone') {
    const count = req.count ?? 1;
    if (!Number.isInteger(count) || count < 1 || count > MAX_CLONES_PER_REQUEST) return { ok: false, error: `count must be 1..${MAX_CLONES_PER_REQUEST}` };
    if (!t.isFrozen) return { ok: false, error: `template ${t.pid} is not frozen yet (forkall snapshot -p ${t.pid})` };
    const clones = await Promise.all(Array.from({ length: count }, () => t.clone()));
    for (const c of clones) {
      events.cloned?.(c.pid, c.threads);
      void c.exited.then((r) => events.exited?.(c.pid, r.exitCode, r.signal));
    }
    return { ok: true, threads: t.threads, clones: clones.map((c) => ({ pid: c.pid, threads: c.threads, notCopied: c.notCopied })) };
  }
  return { ok: false, error: `unknown request ${JSON.stringify(req)}` };
}

function handle(conn: Socket, t: ServeTarget, events: ServeEvents): void {
  const fd = (conn as unknown as { _handle?: { fd?: number } })._handle?.fd ?? -1;
  const me = process.getuid?.() ?? 0;
  let peer = -1;
  try {
    peer = peerUid(fd);
  } catch {
    // treated as a stranger
  }
  if (peer !== me && peer !== 0) {
    conn.end(JSON.stringify({ ok: false, error: `uid ${peer} may not use a template of uid ${me}` }) + '\n');
    return;
  }
  let buf = '';
  conn.setEncoding('utf8');
  conn.on('error', () => {});
  conn.on('data', (d: string) => {
    buf += d;
    if (buf.length > 4096) return void conn.destroy();
    for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const req = parseServeRequest(line);
      if ('error' in req) {
        conn.write(JSON.stringify({ ok: false, error: req.error }) + '\n');
        continue;
      }
      const send = (line: object) => conn.writable && conn.write(JSON.stringify(line) + '\n');
      answer(t, req, events, send).then(
        (r) => conn.writable && conn.write(JSON.stringify(r) + '\n'),
        (e: Error) => conn.writable && conn.write(JSON.stringify({ ok: false, error: e.message }) + '\n'),
      );
    }
  });
}

/** Listens for requests to template `t`; resolves with the socket path once listening. */
export async function serveTemplate(t: ServeTarget, events: ServeEvents = {}): Promise<{ path: string; close(): Promise<void> }> {
  ensureServeDir();
  const path = servePath(t.process.pid!);
  rmSync(path, { force: true }); // a stale socket of a dead template with a reused PID
  const conns = new Set<Socket>();
  const server: Server = createServer((c) => {
    conns.add(c);
    c.once('close', () => conns.delete(c));
    handle(c, t, events);
  });
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, () => resolve()));
  chmodSync(path, 0o600);
  return {
    path,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const c of conns) c.destroy();
        rmSync(path, { force: true });
      }),
  };
}
