// Which cloneAsChildOf the tree orchestrator uses (the seam in types.ts).
import { RemoteError } from '../errors.js';
import type { CloneAsChildOf } from './types.js';

export const cloneAsChildOf: CloneAsChildOf = (_parent, source) => {
  throw new RemoteError(`PID ${source.pid}: copying a descendant into a child of its parent's copy is not available in this build; only a root with zombie children can be cloned as a tree`, 'not-supported');
};
