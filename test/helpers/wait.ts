// Waiting on an event, not for a fixed window: a loaded machine (2 cores shared
// by several builds) can take seconds for what takes milliseconds when quiet.
// The overall timeout is generous and only bounds a wait that would hang.
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Default upper bound for one awaited event. */
export const EVENT_TIMEOUT_MS = 60_000;

/**
 * Polls `check` until it returns something truthy and resolves with it; throws
 * an error naming `what` once `timeoutMs` passed without it.
 */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = EVENT_TIMEOUT_MS, everyMs = 20): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
