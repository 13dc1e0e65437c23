// Flag parsing helpers: errors name the flag at fault.
import { UsageError } from './usage-error.js';

export function parsePositiveInt(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got '${text}'`);
  return n;
}

/** Parses "1,8,64" into whole numbers from min to max; the error names the flag. */
export function parseNumberList(flag: string, text: string, min = 0, max = Number.MAX_SAFE_INTEGER): number[] {
  const out = text.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < min || n > max))
    throw new UsageError(`${flag} expects a comma-separated list of whole numbers from ${min} to ${max}, got '${text}'`);
  return out;
}
