/** Waiting in real time: for a moment, or for something a test expects to happen. */
import * as assert from 'node:assert/strict';

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface UntilOptions {
  /** How long to wait before failing (default 1500 ms). */
  readonly timeoutMs?: number;
  /** How often to look (default every 10 ms). */
  readonly pollMs?: number;
  /** What the failure adds after the awaited thing's name: the state that explains the wait. */
  readonly describeState?: () => unknown;
}

/**
 * Looks at `probe` until it gives a truthy value and returns that value; after the timeout, fails
 * saying what was awaited (`what`), and the state `describeState` gives.
 */
export async function until<T>(what: string, probe: () => T | undefined | null | false | 0 | '', options: UntilOptions = {}): Promise<T> {
  const { timeoutMs = 1_500, pollMs = 10, describeState } = options;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value) return value;
    if (Date.now() > deadline) {
      const state = describeState ? `; ${JSON.stringify(describeState())}` : '';
      assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}${state}`);
    }
    await sleep(pollMs);
  }
}
