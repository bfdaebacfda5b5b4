import { retryAfterMs } from '../../../src/kimi/retryAfter';
import { Refusal } from '../moonshotModel';
import type { Prompt } from '../workloads';
import { callFor, Client, exponentialBackoff } from './client';

/**
 * Roo Code's `rateLimitSeconds` set to 60/RPM: at most one request every 60/RPM seconds, in order,
 * whatever the tokens; a refused one is retried first, after the stated wait or a backoff.
 */
export const fixedDelayClient: Client = {
  name: 'fixed delay',
  description:
    'one request every 60/RPM s, in order, blind to tokens and concurrency; a 429 puts the prompt back first, retried after the stated wait or 1, 2, 4 … 60 s',
  start({ clock, server, workload, random, finished }) {
    const spacing = 60_000 / workload.limits.rpm;
    const waiting: { prompt: Prompt; attempt: number }[] = [];
    let lastSend = -Infinity;
    let retryAt = 0;
    let timer: (() => void) | undefined;
    const pump = (): void => {
      timer?.();
      timer = undefined;
      if (!waiting.length) return;
      const at = Math.max(lastSend + spacing, retryAt);
      if (at > clock.now()) {
        timer = clock.setTimer(at - clock.now(), pump);
        return;
      }
      const entry = waiting.shift()!;
      lastSend = clock.now();
      server.chat(callFor(entry.prompt, workload)).then(
        (answer) => finished(entry.prompt, answer),
        (error: unknown) => {
          if (!(error instanceof Refusal)) throw error;
          const wait = retryAfterMs(undefined, error.serverMessage, clock.now()) ?? exponentialBackoff(entry.attempt, random);
          retryAt = Math.max(retryAt, clock.now() + wait);
          waiting.unshift({ prompt: entry.prompt, attempt: entry.attempt + 1 });
          pump();
        },
      );
      pump();
    };
    return (prompt) => {
      waiting.push({ prompt, attempt: 1 });
      pump();
    };
  },
};
