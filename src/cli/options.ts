// Flag parsing helpers: errors name the flag at fault.
import { UsageError } from './usage-error.js';

export function parsePositiveInt(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got '${text}'`);
  return n;
}
