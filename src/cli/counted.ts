// A count with its noun, for one-line summaries (no table library needed).

/** "1 thread", "4 threads": a count with its noun, singular for one. */
export function counted(n: number, noun: string, plural = `${noun}s`): string {
  return `${n} ${n === 1 ? noun : plural}`;
}
