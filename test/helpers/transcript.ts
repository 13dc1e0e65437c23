// Transcripts written by the scenario programs: one line per event,
// "<label>\t<text>". Parent and clone must write the same lines per label.
import { readFileSync, existsSync } from 'node:fs';

export type Transcript = Map<string, string[]>;

/** Replaces values that legitimately differ between processes (pid=123, tid=456). */
export function normalise(text: string): string {
  return text.replace(/\b(pid|tid|ppid)=\d+/g, '$1=N');
}

export function parseTranscript(text: string): Transcript {
  const t: Transcript = new Map();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const tab = line.indexOf('\t');
    const label = tab < 0 ? '?' : line.slice(0, tab);
    const body = normalise(tab < 0 ? line : line.slice(tab + 1));
    const list = t.get(label) ?? [];
    list.push(body);
    t.set(label, list);
  }
  return t;
}

export function readTranscript(path: string): Transcript | undefined {
  return existsSync(path) ? parseTranscript(readFileSync(path, 'utf8')) : undefined;
}

/** Lines reporting a failed check inside the scenario (sc_check). */
export function mismatches(t: Transcript): string[] {
  const out: string[] = [];
  for (const [label, lines] of t) for (const l of lines) if (l.startsWith('MISMATCH')) out.push(`${label}: ${l}`);
  return out;
}

/** Differences between two transcripts, per label, as readable lines (empty when equal). */
export function diffTranscripts(parent: Transcript, child: Transcript): string[] {
  const diffs: string[] = [];
  const labels = new Set([...parent.keys(), ...child.keys()]);
  for (const label of [...labels].sort()) {
    const a = parent.get(label);
    const b = child.get(label);
    if (!a) diffs.push(`${label}: only in the clone: ${JSON.stringify(b)}`);
    else if (!b) diffs.push(`${label}: missing in the clone (thread did not resume?): ${JSON.stringify(a)}`);
    else if (JSON.stringify(a) !== JSON.stringify(b))
      diffs.push(`${label}: parent ${JSON.stringify(a)} != clone ${JSON.stringify(b)}`);
  }
  return diffs;
}
