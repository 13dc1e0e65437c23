// One clone request as it crosses a process or thread boundary: the engine
// runs synchronously on whichever thread attaches, so the CLI and the Node API
// send it a request and get back a result or a serialised error.
import { cloneProcessSync, type RemoteCloneOptions, type RemoteCloneResult } from './clone-process.js';
import { RemoteError, type RemoteErrorCode } from './errors.js';

export interface CloneRequest {
  pid: number;
  options: Omit<RemoteCloneOptions, 'shouldAbort'>;
}

export type CloneReply =
  | { ok: true; result: RemoteCloneResult }
  | { ok: false; error: { message: string; code: RemoteErrorCode; pid?: number; tid?: number; errno?: number } };

export function runRequest(req: CloneRequest, shouldAbort?: () => boolean): CloneReply {
  try {
    return { ok: true, result: cloneProcessSync(req.pid, { ...req.options, shouldAbort }) };
  } catch (e) {
    if (e instanceof RemoteError) return { ok: false, error: { message: e.message, code: e.code, pid: e.pid, tid: e.tid, errno: e.errno } };
    return { ok: false, error: { message: e instanceof Error ? e.message : String(e), code: 'failed', pid: req.pid } };
  }
}

export function unwrapReply(reply: CloneReply): RemoteCloneResult {
  if (reply.ok) return reply.result;
  const { message, code, pid, tid, errno } = reply.error;
  throw new RemoteError(message, code, { pid, tid, errno });
}
