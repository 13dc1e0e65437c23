// The `explore` request a template served with `forkall run --serve
// --explorable` answers (`forkall explore -p PID`): its fields, their checks,
// and the lines the serving process sends back (progress, then one reply).
import type { ExploreReport } from '../explore/explore.js';

export interface ExploreRequest {
  op: 'explore';
  /** decimal: the first seed (runs use seed + n), or with replay the one seed to run */
  seed: string;
  /** run one clone under `seed` and send back its output and status */
  replay?: boolean;
  runs?: number;
  seconds?: number;
  jobs?: number;
  timeoutMs?: number;
  confirm?: number;
}

/** How a replayed run ended, with its output (base64: it need not be text). */
export interface ServedReplay {
  seed: string;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  deadlock: boolean;
  stdout: string;
  stderr: string;
}

/** Sent while exploring, about every 200 ms: a line of its own before the reply. */
export interface ExploreProgress {
  progress: { runs: number; outcomes: number; failing: number; elapsedMs: number };
}

export type ExploreReply = { ok: true; report?: ExploreReport; replay?: ServedReplay } | { ok: false; error: string };

const FIELDS: Record<string, [min: number, max: number]> = {
  runs: [1, 1e9],
  seconds: [1, 1e6],
  jobs: [1, 64],
  timeoutMs: [1, 1e9],
  confirm: [0, 100],
};

/** The explore request in `r` (already known to have op "explore"), or the protocol error. */
export function parseExploreRequest(r: Record<string, unknown>): ExploreRequest | { error: string } {
  for (const k of Object.keys(r))
    if (k !== 'op' && k !== 'seed' && k !== 'replay' && !(k in FIELDS)) return { error: `protocol error: unknown field ${JSON.stringify(k)} in an explore request` };
  if (typeof r.seed !== 'string' || !/^\d{1,20}$/.test(r.seed) || BigInt(r.seed) >= 1n << 64n)
    return { error: `protocol error: "seed" must be a decimal string below 2^64, got ${JSON.stringify(r.seed)}` };
  if (r.replay !== undefined && typeof r.replay !== 'boolean') return { error: `protocol error: "replay" must be true or false, got ${JSON.stringify(r.replay)}` };
  const out: ExploreRequest = { op: 'explore', seed: r.seed, ...(r.replay ? { replay: true } : {}) };
  for (const [k, [min, max]] of Object.entries(FIELDS)) {
    const v = r[k];
    if (v === undefined) continue;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
      return { error: `protocol error: "${k}" must be a whole number from ${min} to ${max}, got ${JSON.stringify(v)}` };
    (out as unknown as Record<string, number>)[k] = v;
  }
  return out;
}
