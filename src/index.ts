// The Node API of forkall. Engines and clients export from here; nothing
// test-only (test helpers reach src/native/paths.ts directly).
// One error class (ForkallError, src/errors.ts) and one exit shape
// (ProcessExit, src/process-exit.ts) for every engine.
export { libforkall } from './native/paths.js';
export type { Flavour } from './native/paths.js';
export { ForkallError } from './errors.js';
export type { AgentErrorCode, ForkallErrorCode, ForkallErrorDetails } from './errors.js';
export type { ProcessExit } from './process-exit.js';
export { spawnTemplate, Template, AgentError } from './server/template.js';
export type { Clone, CloneNotCopied, CloneOptions, CloneResult, CloneRun, TemplateOptions, Trigger } from './server/template.js';
export type { CloneStdio, CloneStdioOption } from './server/clone-stdio.js';
export { cloneProcess, cloneProcessDetailed, cloneTree } from './remote/api.js';
export type { TreeCloneResult, TreeMemberClone } from './remote/tree/clone-tree.js';
export { cloneProcessSync } from './remote/clone-process.js';
export type { CloneProcessOptions } from './remote/api.js';
export type { RemoteClone, RemoteCloneOptions, RemoteCloneResult } from './remote/clone-process.js';
export type { NotCopied, NotCopiedEffect } from './remote/private/plan.js';
export { RemoteError } from './remote/errors.js';
export type { RemoteErrorCode } from './remote/errors.js';
export { waitForExit } from './remote/wait-exit.js';
export { version } from './version.js';
export { unfork, Unfork, UnforkError } from './unfork/index.js';
export type { UnforkOptions, CallResult, CallArg, UnforkErrorCode } from './unfork/index.js';
export type { Mapping } from './unfork/maps.js';
