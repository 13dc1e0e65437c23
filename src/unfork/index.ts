// unfork's public surface (re-exported by src/index.ts).
export { unfork, Unfork } from './unfork.js';
export type { UnforkOptions, CallResult, CallArg } from './unfork.js';
export { UnforkError } from './errors.js';
export type { UnforkErrorCode } from './errors.js';
