// A three-turn conversation through the engine, the client and the Moonshot-like server: each
// follow-up carries the whole history, and the budget debits exactly what the server charged.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Budget } from '../../src/core/budget';
import { systemClock } from '../../src/core/clock';
import { Conversation, requestMessages } from '../../src/core/conversation';
import { maxCost, priceOf } from '../../src/core/cost';
import { History } from '../../src/core/history';
import { DEFAULT_QUEUE_OPTIONS, SendQueue } from '../../src/core/sendQueue';
import { ChatResult, KimiClient } from '../../src/kimi';
import { verdictFor } from '../../src/kimi/verdict';
import { Calibration } from '../../src/tokens/calibration';
import { estimateRequest } from '../../src/tokens/requestEstimate';
import { TokenCounter } from '../../src/tokens/tokenCounter';
import { FakeMoonshot } from '../support/fakeMoonshot';

const MODEL = 'kimi-k2.6';
const MAX_TOKENS = 400;

describe('a conversation against a Moonshot-like server', function () {
  this.timeout(30_000);
  let server: FakeMoonshot;
  let counter: TokenCounter;
  afterEach(async () => {
    counter?.dispose();
    await server?.stop();
  });

  it('sends the full history with each follow-up and debits its whole cost', async () => {
    server = new FakeMoonshot({ chunkDelayMs: 2 });
    const client = new KimiClient({ baseUrl: await server.start(), apiKey: async () => server.apiKey });
    const budget = new Budget({ requestsPerMinute: 100, tokensPerMinute: 1_000_000, concurrency: 0, tokensPerDay: 0 }, systemClock);
    const queue = new SendQueue<ChatResult>(budget, systemClock, verdictFor, DEFAULT_QUEUE_OPTIONS);
    counter = new TokenCounter({ workerPath: path.resolve(__dirname, '../../src/tokens/worker.js') });
    const calibration = new Calibration();
    const history = new History();
    const conversation: Conversation = history.start(
      'c',
      'Rate limits',
      'You answer questions about API rate limits, briefly.',
      Date.now(),
    );
    const price = priceOf(MODEL, {})!;
    const questions = [
      "What does TPM mean for Moonshot's API, and how is a request charged against it?",
      'And if the answer is shorter than max_tokens, is the difference given back?',
      'So what should a client send as max_tokens?',
    ];
    const rows: string[] = [];
    for (const [turn, question] of questions.entries()) {
      const messages = requestMessages(conversation, question);
      const estimate = await estimateRequest((text) => counter.count(text), calibration, MODEL, messages);
      const usedBefore = budget.snapshot().tokensUsed;
      const result = await queue.enqueue({
        label: question,
        promptTokens: estimate.tokens,
        maxTokens: MAX_TOKENS,
        run: async ({ signal, sending, serverAnswered }) => {
          const r = await client.streamChat(
            { model: MODEL, messages, maxTokens: MAX_TOKENS },
            { onRequest: sending, onResponse: (status: number) => serverAnswered(status >= 200 && status < 300) },
            signal,
          );
          return { value: r, promptTokens: r.usage?.promptTokens };
        },
      }).result;
      const received = server.received.at(-1)!;
      assert.deepEqual(received.messages, messages, `turn ${turn + 1} carries the system prompt, every earlier turn and the question`);
      assert.equal(received.messages.length, 2 + 2 * turn);
      assert.equal(
        budget.snapshot().tokensUsed - usedBefore,
        received.charged,
        'the budget debits what the server charged: prompt + max_tokens',
      );
      rows.push(
        `turn ${turn + 1}: ${messages.length} messages · shown ≈${estimate.tokens} prompt + ${MAX_TOKENS} max output = ${estimate.tokens + MAX_TOKENS} tokens, up to $${maxCost(price, estimate.tokens, MAX_TOKENS).toFixed(5)}${estimate.calibrated ? ' (calibrated)' : ''} · server: ${received.promptTokens} prompt + ${MAX_TOKENS} = ${received.charged} charged, ${result.usage!.completionTokens} output`,
      );
      calibration.record(MODEL, estimate.contentTokens, messages.length, result.usage!.promptTokens);
      history.add(conversation, {
        prompt: question,
        answer: result.content,
        reasoning: result.reasoning,
        at: Date.now(),
        model: MODEL,
        usage: result.usage,
      });
    }
    console.log(rows.map((r) => `      ${r}`).join('\n'));
    const charged = server.received.map((r) => r.promptTokens);
    assert.ok(charged[0] < charged[1] && charged[1] < charged[2], `each turn costs more than the last: ${charged.join(', ')}`);
    queue.dispose();
  });
});
