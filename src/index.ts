// The Node API of forkall. Engines and clients export from here.
export { packageRoot, libforkall, scenarioBinary, toolBinary } from './native/paths.js';
export { spawnTemplate, Template, AgentError } from './server/template.js';
export type { Clone, CloneOptions, CloneResult, TemplateOptions, Trigger } from './server/template.js';
export type { CloneStdio, CloneStdioOption } from './server/clone-stdio.js';
export { cloneProcess, cloneProcessDetailed } from './remote/api.js';
export { cloneProcessSync } from './remote/clone-process.js';
export type { CloneProcessOptions } from './remote/api.js';
export type { RemoteClone, RemoteCloneResult } from './remote/clone-process.js';
export type { NotCopied, NotCopiedEffect } from './remote/private/plan.js';
export { RemoteError } from './remote/errors.js';
export type { RemoteErrorCode } from './remote/errors.js';
export { waitForExit } from './remote/wait-exit.js';
export { version } from './version.js';
export { unfork, Unfork, UnforkError } from './unfork/index.js';
export type { UnforkOptions, CallResult, CallArg, UnforkErrorCode } from './unfork/index.js';
