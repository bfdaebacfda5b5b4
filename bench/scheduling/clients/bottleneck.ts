import Bottleneck from 'bottleneck';
import { retryAfterMs } from '../../../src/kimi/retryAfter';
import { Answer, Refusal } from '../moonshotModel';
import type { Prompt } from '../workloads';
import { callFor, Client, exponentialBackoff } from './client';

/** How often bottleneck checks whether a reservoir is due for refresh (its default is 250 ms). */
const HEARTBEAT_MS = 50;

/**
 * bottleneck (npm) set up as well as it allows: one limiter per windowed limit, each a reservoir
 * refilled to the limit every window (its documented recipe for "N per minute"), token costs as
 * job weights, maxConcurrent for concurrency. A 429 goes back through both limiters, first in line,
 * after the stated wait or a backoff. It has one reservoir per limiter and no rolling window, so
 * the two limiters are nested (tokens, then requests) and each refill is a fixed-window reset.
 */
export const bottleneckClient: Client = {
  name: 'bottleneck',
  description: `two nested limiters, tokens (weight = prompt + max_tokens) then requests (weight 1, maxConcurrent = concurrency), each a reservoir of the limit refreshed to full every 60 s (heartbeat ${HEARTBEAT_MS} ms); a 429 is rescheduled through both with top priority after the stated wait or 1, 2, 4 … 60 s; no TPD limiter`,
  usesGlobalTimers: true,
  start({ clock, server, workload, random, finished }) {
    const { rpm, tpm, concurrency } = workload.limits;
    const windowMs = server.rules.windowMs;
    const options = (capacity: number, maxConcurrent: number | null) =>
      ({
        reservoir: capacity,
        reservoirRefreshAmount: capacity,
        reservoirRefreshInterval: windowMs,
        maxConcurrent,
        heartbeatInterval: HEARTBEAT_MS,
      }) as Bottleneck.ConstructorOptions;
    const tokens = new Bottleneck(options(tpm, null));
    const requests = new Bottleneck(options(rpm, concurrency || null));
    const submit = (prompt: Prompt, attempt: number): void => {
      const priority = attempt === 1 ? 5 : 0; // bottleneck runs lower numbers first
      const weight = prompt.promptTokens + workload.maxTokens;
      tokens
        .schedule({ weight, priority }, () => requests.schedule({ priority }, () => server.chat(callFor(prompt, workload))))
        .then(
          (answer: Answer) => finished(prompt, answer),
          (error: unknown) => {
            if (!(error instanceof Refusal)) throw error;
            const wait = retryAfterMs(undefined, error.serverMessage, clock.now()) ?? exponentialBackoff(attempt, random);
            clock.setTimer(wait, () => submit(prompt, attempt + 1));
          },
        );
    };
    return (prompt) => submit(prompt, 1);
  },
};
