// Which cloneAsChildOf the tree orchestrator uses (the seam in types.ts): adopt.ts's.
import { cloneAsChildOf as adopt } from './adopt.js';
import type { CloneAsChildOf } from './types.js';

export const cloneAsChildOf: CloneAsChildOf = (parent, source, opts) => adopt(parent, source, opts);
