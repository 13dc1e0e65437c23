// Errors of unfork, each with a code a caller (and the CLI's exit code) can act on.
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

export class UnforkError extends Error {
  constructor(
    message: string,
    readonly code: UnforkErrorCode,
  ) {
    super(message);
  }
}
