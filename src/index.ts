// The Node API of forkall. Engines and clients export from here.
export { packageRoot, libforkall, scenarioBinary, toolBinary } from './native/paths.js';
export { spawnTemplate, Template, AgentError } from './server/template.js';
export type { Clone, CloneResult, TemplateOptions, Trigger } from './server/template.js';
