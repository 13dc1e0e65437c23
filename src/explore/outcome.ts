// How one run ended, reduced to what tells schedules apart: exit status or
// killing signal (or a timeout: a hang or a deadlock) and a digest of its output.
import { hash } from 'node:crypto';

export interface RunResult {
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  /** the scheduler found every thread blocked on a wrapped primitive and ended the run */
  deadlock: boolean;
  stdout: Buffer;
  stderr: Buffer;
  seed: bigint | null;
}

export interface Outcome {
  /** e.g. "exit 0, output 1a2b3c4d", "signal SIGABRT, output ...", "deadlock", "timeout" */
  outcome: string;
  exitCode: number | null;
  signal: string | null;
  count: number;
  /** the first seed that gave it (a decimal string; null: the clone never reached a synchronisation point) */
  seed: string | null;
  /** the first line of its output, to recognise it */
  sample: string;
  /** with confirmation: how many replays of `seed` in the same template ended this way, of how many */
  replayed?: { same: number; of: number };
}

/** A run that did not pass: a non-zero exit, a signal, a deadlock or a timeout. */
export const failing = (o: Pick<Outcome, 'outcome' | 'exitCode'>): boolean => o.outcome === 'timeout' || o.outcome === 'deadlock' || o.exitCode !== 0;

const separator = Buffer.from([0]);

/** SHA-256 of stdout, a NUL and stderr (one-shot: no Hash object per run) */
function digest(out: Buffer, err: Buffer): string {
  return hash('sha256', Buffer.concat([out, separator, err])).slice(0, 8);
}

export function outcomeKey(r: RunResult): string {
  if (r.timedOut) return 'timeout';
  if (r.deadlock) return 'deadlock';
  const status = r.signal ? `signal ${r.signal}` : `exit ${r.exitCode}`;
  return `${status}, output ${digest(r.stdout, r.stderr)}`;
}

function firstLine(r: RunResult): string {
  const text = (r.stdout.length ? r.stdout : r.stderr).toString('utf8');
  return text.split('\n').find((l) => l.trim() !== '')?.slice(0, 60) ?? '';
}

/** Counts distinct outcomes, remembering the first seed and output line of each. */
export class OutcomeTable {
  private readonly byKey = new Map<string, Outcome>();
  /** up to 3 seeds per outcome, the candidates for confirmation */
  readonly candidates = new Map<string, bigint[]>();
  runs = 0;

  add(r: RunResult): Outcome {
    this.runs++;
    const key = outcomeKey(r);
    let o = this.byKey.get(key);
    if (!o) {
      o = {
        outcome: key,
        exitCode: r.timedOut || r.deadlock ? null : r.exitCode,
        signal: r.timedOut || r.deadlock ? null : r.signal,
        count: 0,
        seed: r.seed === null ? null : r.seed.toString(),
        sample: firstLine(r),
      };
      this.byKey.set(key, o);
    } else if (o.seed === null && r.seed !== null) o.seed = r.seed.toString();
    o.count++;
    const seeds = this.candidates.get(key) ?? [];
    if (r.seed !== null && seeds.length < 3) this.candidates.set(key, [...seeds, r.seed]);
    return o;
  }

  /** most frequent first */
  list(): Outcome[] {
    return [...this.byKey.values()].sort((a, b) => b.count - a.count);
  }
}
