import { Budget, DEFAULT_BUDGET_OPTIONS } from '../../../src/core/budget';
import { MemoryLedger } from '../../../src/core/ledger';
import { DEFAULT_QUEUE_OPTIONS, QueueOptions, SendAttempt, SendOutcome, SendQueue } from '../../../src/core/sendQueue';
import { errorFromResponse } from '../../../src/kimi/kimiError';
import { verdictFor } from '../../../src/kimi/verdict';
import { Answer, ChatCall, MoonshotModel, Refusal } from '../moonshotModel';
import type { SimClock } from '../simClock';
import type { Prompt } from '../workloads';
import { callFor, Client } from './client';

/**
 * The extension's defaults, except that the queue must hold a whole workload: the settings cap
 * maxLength at 1,000 and a 130% backlog waits longer than the default 15 minutes.
 */
export const ENGINE_QUEUE_OPTIONS: QueueOptions = { ...DEFAULT_QUEUE_OPTIONS, maxLength: 100_000, maxWaitMs: 24 * 3_600_000 };

/** One send's attempt as the engine makes it: the server's answer settles it, a refusal becomes the KimiError KimiClient would throw. */
export function engineRun(server: MoonshotModel, clock: SimClock, call: ChatCall) {
  return async (attempt: SendAttempt): Promise<SendOutcome<Answer>> => {
    attempt.sending();
    try {
      const answer = await server.chat(call, () => attempt.serverAnswered());
      return { value: answer, promptTokens: answer.promptTokens };
    } catch (error) {
      // What KimiClient makes of Moonshot's 429: the same parser reads "after N seconds".
      if (error instanceof Refusal) throw errorFromResponse(429, error.body, undefined, clock.now());
      throw error;
    }
  };
}

/** kimi-budget's Budget + SendQueue, as src/extension.ts wires them, on the simulated clock. */
export const engineClient: Client = {
  name: 'kimi-budget engine',
  description: `Budget + SendQueue from src/core with DEFAULT_BUDGET_OPTIONS (60 s window, ${DEFAULT_BUDGET_OPTIONS.marginMs} ms margin) and DEFAULT_QUEUE_OPTIONS (maxAttempts ${DEFAULT_QUEUE_OPTIONS.maxAttempts}, backoff ${DEFAULT_QUEUE_OPTIONS.backoffBaseMs / 1000}–${DEFAULT_QUEUE_OPTIONS.backoffMaxMs / 1000} s) except maxLength ${ENGINE_QUEUE_OPTIONS.maxLength.toLocaleString('en-US')} and maxWait 24 h; errors mapped by verdictFor; limits set to the account's`,
  start({ clock, server, workload, random, finished, gaveUp }) {
    const { rpm, tpm, concurrency, tpd } = workload.limits;
    const budget = new Budget(
      { requestsPerMinute: rpm, tokensPerMinute: tpm, concurrency, tokensPerDay: tpd },
      clock,
      new MemoryLedger(),
      DEFAULT_BUDGET_OPTIONS,
    );
    const queue = new SendQueue<Answer>(budget, clock, verdictFor, ENGINE_QUEUE_OPTIONS, random);
    const send = (prompt: Prompt): void => {
      const ticket = queue.enqueue({
        label: `prompt ${prompt.id}`,
        promptTokens: prompt.promptTokens,
        maxTokens: workload.maxTokens,
        run: engineRun(server, clock, callFor(prompt, workload)),
      });
      ticket.result.then(
        (answer) => finished(prompt, answer),
        () => {
          gaveUp(prompt); // refused maxAttempts times: the user sends it again at once
          send(prompt);
        },
      );
    };
    return send;
  },
};
