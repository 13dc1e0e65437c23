// The one error class of the Node API. Every failure forkall reports (the
// remote engine's refusals, the agent's, unfork's) is a ForkallError: one
// `instanceof` check, one `code` to switch on (the CLI maps it to an exit
// code, docs/cli.md), and the process or thread at fault when one is known.
// RemoteError, AgentError and UnforkError are its subclasses, kept so that
// code written against them keeps working.
import type { RemoteErrorCode } from './remote/errors.js';
import type { UnforkErrorCode } from './unfork/errors.js';

/** Why the agent (the LD_PRELOAD side of a Template) failed. */
export type AgentErrorCode =
  /** the agent refused or failed a request; `errno` says why */
  | 'agent-failed'
  /** the template process could not start, or ended (before its snapshot, or while a request was pending) */
  | 'template-ended'
  /** a wait (snapshot, clone) took longer than TemplateOptions.timeoutMs */
  | 'timeout'
  /** the control channel to the template is closed */
  | 'closed';

/** Every code a ForkallError can carry. */
export type ForkallErrorCode = RemoteErrorCode | UnforkErrorCode | AgentErrorCode;

/** Where a failure happened, when it is known. */
export interface ForkallErrorDetails {
  /** the errno the failing call returned (e.g. 1 EPERM, 3 ESRCH) */
  errno?: number;
  /** the process at fault: the target of a clone or unfork, or the template */
  pid?: number;
  /** the thread at fault */
  tid?: number;
}

/** The one error class of the Node API: every engine's failure is one (see the Errors section above). */
export class ForkallError extends Error {
  override name = 'ForkallError';
  /** what went wrong, as a code a caller can act on */
  readonly code: ForkallErrorCode;
  /** the errno the failing call returned, when there was one */
  errno: number | undefined;
  /** the process at fault, when known */
  pid: number | undefined;
  /** the thread at fault, when known */
  tid: number | undefined;

  constructor(message: string, code: ForkallErrorCode, details: ForkallErrorDetails = {}) {
    super(message);
    this.code = code;
    this.errno = details.errno;
    this.pid = details.pid;
    this.tid = details.tid;
  }
}

/** Fills in the process at fault on a ForkallError that does not name one yet; returns `e`. */
export function blamePid<E>(e: E, pid: number): E {
  if (e instanceof ForkallError && e.pid === undefined) e.pid = pid;
  return e;
}
