// Small statistics helpers shared by the benchmarks.
export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const v = [...values].sort((a, b) => a - b);
  const mid = Math.floor(v.length / 2);
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Parses "1,8,64" into positive integers; throws naming the flag on bad input. */
export function parseList(flag: string, text: string): number[] {
  const out = text.split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < 0))
    throw new Error(`${flag} expects a comma-separated list of whole numbers, got '${text}'`);
  return out;
}
