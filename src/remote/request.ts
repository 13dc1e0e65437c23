// One clone request as it crosses a process or thread boundary: the engine
// runs synchronously on whichever thread attaches, so the CLI and the Node API
// send it a request and get back a result or a serialised error.
import { cloneProcessSync, type RemoteCloneOptions, type RemoteCloneResult } from './clone-process.js';
import { RemoteError, type RemoteErrorCode } from './errors.js';
import { cloneTreeSync, type TreeCloneResult } from './tree/clone-tree.js';

export interface CloneRequest {
  pid: number;
  options: Omit<RemoteCloneOptions, 'shouldAbort'>;
  /** clone the process and all its descendants (tree/clone-tree.ts); count must be 1 */
  tree?: boolean;
}

export type CloneReply =
  | { ok: true; result: RemoteCloneResult }
  | { ok: true; tree: TreeCloneResult }
  | { ok: false; error: { message: string; code: RemoteErrorCode; pid?: number; tid?: number; errno?: number } };

export function runRequest(req: CloneRequest, shouldAbort?: () => boolean): CloneReply {
  try {
    if (req.tree) return { ok: true, tree: cloneTreeSync(req.pid, { stopped: req.options.stopped, exactTids: req.options.exactTids, privateFds: req.options.privateFds, shouldAbort }) };
    return { ok: true, result: cloneProcessSync(req.pid, { ...req.options, shouldAbort }) };
  } catch (e) {
    if (e instanceof RemoteError) return { ok: false, error: { message: e.message, code: e.code, pid: e.pid, tid: e.tid, errno: e.errno } };
    return { ok: false, error: { message: e instanceof Error ? e.message : String(e), code: 'failed', pid: req.pid } };
  }
}

export function unwrapReply(reply: CloneReply): RemoteCloneResult {
  if (reply.ok && 'result' in reply) return reply.result;
  return failure(reply);
}

export function unwrapTreeReply(reply: CloneReply): TreeCloneResult {
  if (reply.ok && 'tree' in reply) return reply.tree;
  return failure(reply);
}

function failure(reply: CloneReply): never {
  if (reply.ok) throw new RemoteError('the engine process replied with the wrong kind of result', 'failed');
  const { message, code, pid, tid, errno } = reply.error;
  throw new RemoteError(message, code, { pid, tid, errno });
}
