// Flag parsing helpers: errors name the flag at fault.
import { freemem } from 'node:os';
import { UsageError } from './usage-error.js';

/** Lists longer than this are a mistake (each entry is a configuration that runs on its own). */
export const MAX_LIST_ENTRIES = 64;

export function parsePositiveInt(flag: string, text: string, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new UsageError(`${flag} must be a whole number from 1 to ${max}, got '${text}'`);
  return n;
}

/** A seed: a whole number below 2^64. */
export function parseSeed(flag: string, text: string): bigint {
  if (!/^\d{1,19}$/.test(text) || BigInt(text) >= 1n << 64n) throw new UsageError(`${flag} expects a whole number below 2^64, got '${text}'`);
  return BigInt(text);
}

/** Parses "1,8,64" into at most MAX_LIST_ENTRIES whole numbers from min to max; the error names the flag. */
export function parseNumberList(flag: string, text: string, min = 0, max = Number.MAX_SAFE_INTEGER): number[] {
  const out = text.split(',').map((x) => x.trim()).filter(Boolean).map(Number);
  if (out.length > MAX_LIST_ENTRIES) throw new UsageError(`${flag} takes at most ${MAX_LIST_ENTRIES} values, got ${out.length}`);
  if (out.length === 0 || out.some((n) => !Number.isInteger(n) || n < min || n > max))
    throw new UsageError(`${flag} expects a comma-separated list of whole numbers from ${min} to ${max}, got '${text}'`);
  return out;
}

/** A list of memory sizes in MB, each of which this machine can hold now (MemAvailable). */
export function parseMemoryMbList(flag: string, text: string): number[] {
  const list = parseNumberList(flag, text);
  const availableMb = Math.floor(freemem() / 2 ** 20);
  const tooBig = list.find((mb) => mb > availableMb);
  if (tooBig !== undefined) throw new UsageError(`${flag} ${tooBig} is more memory than this machine has available (${availableMb} MB): out of memory`);
  return list;
}
