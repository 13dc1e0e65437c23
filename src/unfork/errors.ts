// Errors of unfork, each with a code a caller (and the CLI's exit code) can act on.
import { ForkallError, type ForkallErrorDetails } from '../errors.js';

export type UnforkErrorCode =
  | 'bad-pid'
  | 'no-such-process'
  | 'bad-target' // a zombie or kernel thread: no memory to import
  | 'denied' // no ptrace-read permission on the target (process_vm_readv, /proc/PID/mem)
  | 'uffd-denied' // userfaultfd not permitted
  | 'collide' // a target mapping sits where the helper lives, or cannot be placed
  | 'no-symbol'
  | 'not-mapped' // --read of an address the target does not map
  | 'crash' // the called function crashed in the copy
  | 'fault' // a page the target unmapped (or cannot be read) was needed
  | 'timeout' // a call did not return (e.g. a lock held by another thread of the target)
  | 'no-tls'
  | 'closed'
  | 'failed';

/** A ForkallError of unfork. */
export class UnforkError extends ForkallError {
  override name = 'UnforkError';
  declare readonly code: UnforkErrorCode;
  constructor(message: string, code: UnforkErrorCode, details: ForkallErrorDetails = {}) {
    super(message, code, details);
  }
}
