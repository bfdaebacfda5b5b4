// The engine, the client and a Moonshot-like server on loopback, in real time with short windows:
// everything queued at once must be answered with no 429, as fast as the server's limits allow.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import { Budget } from '../../src/core/budget';
import { systemClock } from '../../src/core/clock';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, SendQueue } from '../../src/core/sendQueue';
import { ChatResult, KimiClient } from '../../src/kimi';
import { verdictFor } from '../../src/kimi/verdict';
import { Calibration } from '../../src/tokens/calibration';
import { TokenCounter } from '../../src/tokens/tokenCounter';
import { FakeMoonshot } from '../support/fakeMoonshot';

const MODEL = 'kimi-k2.6';
const WINDOW_MS = 2_000;
const MARGIN_MS = 100;

/** Prompts of mixed sizes, as people write them: a question, a paragraph, a pasted function. */
function prompts(count: number): string[] {
  const sentence = 'Explain how the budget engine decides when a queued prompt may go out, and why. ';
  return Array.from({ length: count }, (_, i) => `Prompt ${i}: ${sentence.repeat(1 + ((i * 7) % 12))}`);
}

async function runAll(server: FakeMoonshot, limits: Limits, maxTokens: number, texts: string[]) {
  const baseUrl = await server.start();
  const budget = new Budget(limits, systemClock, undefined, { windowMs: WINDOW_MS, dayMs: 86_400_000, marginMs: MARGIN_MS });
  const queue = new SendQueue<ChatResult>(budget, systemClock, verdictFor, { ...DEFAULT_QUEUE_OPTIONS, maxLength: 100, maxWaitMs: 60_000 });
  const counter = new TokenCounter({ workerPath: path.resolve(__dirname, '../../src/tokens/worker.js') });
  const calibration = new Calibration();
  const client = new KimiClient({ baseUrl, apiKey: async () => server.apiKey });
  try {
    const started = Date.now();
    const counts = await Promise.all(texts.map((t) => counter.count(t)));
    const tickets = texts.map((text, i) => {
      const estimate = calibration.estimate(MODEL, counts[i].tokens, 1);
      return queue.enqueue({
        label: `prompt ${i}`,
        promptTokens: estimate.tokens,
        maxTokens,
        run: async ({ signal, sending, serverAnswered }) => {
          const result = await client.streamChat(
            { model: MODEL, messages: [{ role: 'user', content: text }], maxTokens },
            { onRequest: sending, onResponse: (status: number) => serverAnswered(status >= 200 && status < 300) },
            signal,
          );
          if (result.usage) calibration.record(MODEL, counts[i].tokens, 1, result.usage.promptTokens);
          return { value: result, promptTokens: result.usage?.promptTokens };
        },
      });
    });
    const results = await Promise.all(tickets.map((t) => t.result));
    return { results, seconds: (Date.now() - started) / 1000 };
  } finally {
    queue.dispose();
    counter.dispose();
  }
}

describe('budgeted sends against a Moonshot-like server (real time, 2 s windows)', function () {
  this.timeout(60_000);
  let server: FakeMoonshot;
  afterEach(() => server.stop());

  it('30 sends under 10 RPM: all answered, zero 429s, in the three windows the limit needs', async () => {
    server = new FakeMoonshot({ rpm: 10, tpm: 1_000_000, concurrency: 4, windowMs: WINDOW_MS, chunkDelayMs: 10 });
    const limits = { requestsPerMinute: 10, tokensPerMinute: 1_000_000, concurrency: 4, tokensPerDay: 0 };
    const { results, seconds } = await runAll(server, limits, 256, prompts(30));
    console.log(
      `      RPM-bound: ${results.length} sends, ${server.stats.accepted} accepted, 429s: ${JSON.stringify(server.stats.rejected)}, ${seconds.toFixed(2)} s, server max concurrent ${server.stats.maxConcurrent}`,
    );
    assert.equal(results.length, 30);
    assert.ok(results.every((r) => r.content.length > 0 && r.usage));
    assert.deepEqual(server.stats.rejected, {}, 'the server refused nothing');
    assert.equal(server.stats.requests, 30, 'no retries were needed');
    assert.ok(server.stats.maxConcurrent <= 4);
    // 30 sends at 10 per window: the last ten go when the second ten's units come back.
    assert.ok(seconds >= (2 * WINDOW_MS) / 1000, `finished in ${seconds} s, faster than the limit allows`);
    // No unit lies idle: each send goes out about when the unit of the send ten before it came back
    // (one window plus the margin after the server answered it), not a whole window later.
    const at = server.received.map((r) => r.at);
    for (let i = 10; i < at.length; i++) {
      const gap = at[i] - at[i - 10];
      assert.ok(gap >= WINDOW_MS && gap <= WINDOW_MS + MARGIN_MS + 1_000, `send ${i} went ${gap} ms after send ${i - 10}`);
    }
  });

  it('30 sends bound by tokens per minute (prompt + max_tokens): all answered, zero 429s', async () => {
    const texts = prompts(30);
    server = new FakeMoonshot({ rpm: 1_000, tpm: 6_000, windowMs: WINDOW_MS, chunkDelayMs: 5 });
    const limits = { requestsPerMinute: 1_000, tokensPerMinute: 6_000, concurrency: 0, tokensPerDay: 0 };
    const { results, seconds } = await runAll(server, limits, 300, texts);
    const charged = server.received.reduce((sum, r) => sum + r.charged, 0);
    console.log(
      `      TPM-bound: ${results.length} sends, ${charged} tokens charged by the server, 429s: ${JSON.stringify(server.stats.rejected)}, ${seconds.toFixed(2)} s`,
    );
    assert.equal(results.length, 30);
    assert.deepEqual(server.stats.rejected, {});
    assert.equal(server.stats.requests, 30);
    assert.ok(
      server.received.every((r) => r.maxTokens === 300),
      'max_tokens is always sent',
    );
    const windowsNeeded = Math.ceil(charged / 6_000) - 1;
    assert.ok(seconds >= ((windowsNeeded * WINDOW_MS) / 1000) * 0.9, `${seconds} s for ${charged} tokens at 6,000 per ${WINDOW_MS} ms`);
  });
});
