// Polls a condition until it holds or a deadline passes. The deadline only
// turns a hang into a readable failure (it prints the last observed state);
// it is never an assertion about speed.
import { setTimeout as sleep } from "node:timers/promises";

export interface WaitOptions {
  timeoutMs?: number;
  intervalMs?: number;
}

/**
 * Calls `probe` until it returns a value other than `undefined`, and returns it.
 * `probe` may throw; the last error or value is reported when time runs out.
 */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  { timeoutMs = 90_000, intervalMs = 200 }: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = "nothing observed yet";
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
      last = "probe returned undefined";
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out waiting for ${what}; last observed: ${detail}`);
    }
    await sleep(intervalMs);
  }
}
