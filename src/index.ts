// The Node API of forkall. Engines and clients export from here.
export { packageRoot, libforkall, scenarioBinary, toolBinary } from './native/paths.js';
