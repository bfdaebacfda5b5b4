import { retryAfterMs } from '../../../src/kimi/retryAfter';
import { Refusal } from '../moonshotModel';
import type { Prompt } from '../workloads';
import { callFor, Client, exponentialBackoff } from './client';

/** What most extensions do: send at once; on a 429 wait the time the server states, else back off exponentially. */
export const retryOn429Client: Client = {
  name: 'retry-on-429',
  description:
    'sends every prompt at once; on 429 waits the stated "after N seconds", else 1, 2, 4 … 60 s (±25% jitter), and sends again, with no limit on attempts',
  start({ clock, server, workload, random, finished }) {
    const attempt = (prompt: Prompt, number: number): void => {
      server.chat(callFor(prompt, workload)).then(
        (answer) => finished(prompt, answer),
        (error: unknown) => {
          if (!(error instanceof Refusal)) throw error;
          const wait = retryAfterMs(undefined, error.serverMessage, clock.now()) ?? exponentialBackoff(number, random);
          clock.setTimer(wait, () => attempt(prompt, number + 1));
        },
      );
    };
    return (prompt) => attempt(prompt, 1);
  },
};
