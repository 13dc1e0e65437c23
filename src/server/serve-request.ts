// Validation of the JSON lines a served template receives (serve.ts). Anything
// that is not exactly one of the documented requests gets a protocol error
// that says what was wrong, never an internal error text.
import { parseExploreRequest, type ExploreRequest } from './serve-explore.js';

export type ServeRequest = { op: 'snapshot' } | { op: 'clone'; count?: number } | ExploreRequest;

export const MAX_CLONES_PER_REQUEST = 64;

/** The request in `line`, or the protocol error to answer with. */
export function parseServeRequest(line: string): ServeRequest | { error: string } {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { error: 'protocol error: not a JSON request' };
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    return { error: `protocol error: a request is a JSON object like {"op":"clone"}, got ${JSON.stringify(v)}` };
  const r = v as Record<string, unknown>;
  if (r.op === 'explore') return parseExploreRequest(r);
  const allowed = r.op === 'clone' ? ['op', 'count'] : ['op'];
  const extra = Object.keys(r).filter((k) => !allowed.includes(k));
  if (r.op !== 'snapshot' && r.op !== 'clone') return { error: `protocol error: "op" must be "snapshot", "clone" or "explore", got ${'op' in r ? JSON.stringify(r.op) : 'none'}` };
  if (extra.length) return { error: `protocol error: unknown field ${JSON.stringify(extra[0])} in a ${r.op} request` };
  if (r.op === 'snapshot') return { op: 'snapshot' };
  if (r.count === undefined) return { op: 'clone' };
  if (typeof r.count !== 'number' || !Number.isInteger(r.count) || r.count < 1 || r.count > MAX_CLONES_PER_REQUEST)
    return { error: `protocol error: "count" must be a whole number from 1 to ${MAX_CLONES_PER_REQUEST}, got ${JSON.stringify(r.count)}` };
  return { op: 'clone', count: r.count };
}
