// Why the remote engine refused or failed, as a code the CLI maps to an exit
// code (docs/cli.md) and a one-line message naming the PID or TID at fault.
import { ForkallError, type ForkallErrorDetails } from '../errors.js';

export type RemoteErrorCode =
  | 'bad-pid'
  | 'no-such-process'
  | 'zombie'
  | 'kernel-thread'
  | 'self'
  | 'traced'
  | 'denied'
  | 'unsupported'
  /** a runtime that keeps its threads' TIDs or its PID (Go, Python asyncio): only an exact-TID clone works */
  | 'needs-exact-tids'
  /** the target is of a kind the engine refuses (seccomp, CET): docs/semantics.md */
  | 'not-supported'
  | 'failed';

/** A ForkallError of the remote engine (cloneProcess, cloneProcessSync). */
export class RemoteError extends ForkallError {
  override name = 'RemoteError';
  declare readonly code: RemoteErrorCode;
  constructor(message: string, code: RemoteErrorCode, details: ForkallErrorDetails = {}) {
    super(message, code, details);
  }
}
