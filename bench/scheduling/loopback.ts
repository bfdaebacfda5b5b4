// The real-time run: the engine, KimiClient and the loopback Moonshot-like server of the tests,
// with a 2-second "minute", beside retry-on-429 through the same client and the same server.
import { Budget, DEFAULT_BUDGET_OPTIONS } from '../../src/core/budget';
import { systemClock } from '../../src/core/clock';
import { MemoryLedger } from '../../src/core/ledger';
import { DEFAULT_QUEUE_OPTIONS, SendQueue } from '../../src/core/sendQueue';
import { ChatResult, KimiClient } from '../../src/kimi';
import { KimiError } from '../../src/kimi/kimiError';
import { verdictFor } from '../../src/kimi/verdict';
import { Calibration } from '../../src/tokens/calibration';
import { TokenCounter } from '../../src/tokens/tokenCounter';
import { FakeMoonshot } from '../../test/support/fakeMoonshot';
import { fromRoot } from '../paths';
import { libDom, licenses } from '../tokens/corpus';
import { logUniform, seeded } from './random';

const MODEL = 'kimi-k2.6';
export const LOOPBACK_WINDOW_MS = 2_000;
/** The engine's default margin (500 ms for a 60 s window), in proportion to the shortened window. */
export const LOOPBACK_MARGIN_MS = Math.round((DEFAULT_BUDGET_OPTIONS.marginMs * LOOPBACK_WINDOW_MS) / DEFAULT_BUDGET_OPTIONS.windowMs);
const PROMPTS = 60;

export interface LoopbackVariant {
  readonly id: string;
  readonly title: string;
  readonly rpm: number;
  readonly tpm: number;
  readonly concurrency: number;
  readonly maxTokens: number;
}

export const LOOPBACK_VARIANTS: readonly LoopbackVariant[] = [
  { id: 'rpm', title: 'RPM-bound', rpm: 20, tpm: 1_000_000, concurrency: 0, maxTokens: 256 },
  { id: 'tpm', title: 'TPM-bound', rpm: 1_000, tpm: 24_000, concurrency: 0, maxTokens: 512 },
];

export interface LoopbackResult {
  readonly variant: LoopbackVariant;
  readonly client: string;
  /** From the first send to the last answer's end. */
  readonly seconds: number;
  /** From the first to the last admission, and what a perfect FIFO client would need for the same charges. */
  readonly admissionSpanS: number;
  readonly idealSpanS: number;
  readonly requests: number;
  readonly refused: Record<string, number>;
  readonly answered: number;
}

/** Slices of real text (licences, lib.dom.d.ts) of about 200 to 3,000 tokens, the same for every client. */
export function loopbackPrompts(): string[] {
  const source = [licenses()?.text ?? '', libDom().text].join('\n');
  const random = seeded(21);
  return Array.from({ length: PROMPTS }, (_, i) => {
    const length = logUniform(random, 800, 12_000);
    const start = Math.floor(random() * (source.length - length));
    return `Prompt ${i}: explain this.\n${source.slice(start, start + length)}`;
  });
}

export async function runLoopback(variant: LoopbackVariant, client: 'engine' | 'retry-on-429', texts: string[]): Promise<LoopbackResult> {
  const server = new FakeMoonshot({
    rpm: variant.rpm,
    tpm: variant.tpm,
    concurrency: variant.concurrency,
    windowMs: LOOPBACK_WINDOW_MS,
    chunkDelayMs: 10,
  });
  const baseUrl = await server.start();
  const kimi = new KimiClient({ baseUrl, apiKey: async () => server.apiKey });
  try {
    const send = client === 'engine' ? await engineSender(variant, kimi, texts) : retrySender(variant, kimi);
    const started = Date.now();
    const results = await Promise.allSettled(texts.map((text, i) => send.send(text, i)));
    const seconds = (Date.now() - started) / 1000;
    send.dispose();
    const admitted = server.received.filter((r) => r.status === 200).map((r) => r.at);
    const charges = texts.map((text) => server.countPromptTokens([{ role: 'user', content: text }]) + variant.maxTokens);
    return {
      variant,
      client,
      seconds,
      admissionSpanS: (Math.max(...admitted) - Math.min(...admitted)) / 1000,
      idealSpanS: idealLastAdmission(charges, variant) / 1000,
      requests: server.stats.requests,
      refused: server.stats.rejected,
      answered: results.filter((r) => r.status === 'fulfilled').length,
    };
  } finally {
    await server.stop();
  }
}

interface Sender {
  send(text: string, index: number): Promise<ChatResult>;
  dispose(): void;
}

/** As the extension sends: the local o200k count, calibrated by earlier answers, through Budget + SendQueue. */
async function engineSender(variant: LoopbackVariant, kimi: KimiClient, texts: string[]): Promise<Sender> {
  const limits = { requestsPerMinute: variant.rpm, tokensPerMinute: variant.tpm, concurrency: variant.concurrency, tokensPerDay: 0 };
  const budget = new Budget(limits, systemClock, new MemoryLedger(), {
    windowMs: LOOPBACK_WINDOW_MS,
    dayMs: 86_400_000,
    marginMs: LOOPBACK_MARGIN_MS,
  });
  const queue = new SendQueue<ChatResult>(budget, systemClock, verdictFor, {
    ...DEFAULT_QUEUE_OPTIONS,
    maxLength: 1_000,
    maxWaitMs: 600_000,
  });
  const counter = new TokenCounter({ workerPath: fromRoot('out', 'src', 'tokens', 'worker.js') });
  const calibration = new Calibration();
  // Counted before the clock starts, so that every prompt is queued at once, as for retry-on-429.
  const counts = await Promise.all(texts.map(async (text) => (await counter.count(text)).tokens));
  return {
    send(text, index) {
      const local = counts[index];
      const ticket = queue.enqueue({
        label: text.slice(0, 12),
        promptTokens: calibration.estimate(MODEL, local, 1).tokens,
        maxTokens: variant.maxTokens,
        run: async ({ signal, sending, serverAnswered }) => {
          const result = await kimi.streamChat(
            { model: MODEL, messages: [{ role: 'user', content: text }], maxTokens: variant.maxTokens },
            { onRequest: sending, onResponse: (status: number) => serverAnswered(status >= 200 && status < 300) },
            signal,
          );
          if (result.usage) calibration.record(MODEL, local, 1, result.usage.promptTokens);
          return { value: result, promptTokens: result.usage?.promptTokens };
        },
      });
      return ticket.result;
    },
    dispose() {
      queue.dispose();
      counter.dispose();
    },
  };
}

/** Sends at once; on 429 waits the stated time, else backs off from a 60th of the window, doubling. */
function retrySender(variant: LoopbackVariant, kimi: KimiClient): Sender {
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  return {
    async send(text) {
      for (let attempt = 1; ; attempt++) {
        try {
          return await kimi.streamChat({ model: MODEL, messages: [{ role: 'user', content: text }], maxTokens: variant.maxTokens }, {});
        } catch (error) {
          if (!(error instanceof KimiError) || error.kind !== 'rateLimited' || attempt > 50) throw error;
          const backoff = Math.min(LOOPBACK_WINDOW_MS, (LOOPBACK_WINDOW_MS / 60) * 2 ** (attempt - 1)) * (0.75 + 0.5 * Math.random());
          await sleep(error.retryAfterMs ?? backoff);
        }
      }
    },
    dispose() {},
  };
}

/** When a perfect FIFO client's last admission would be, from its first, for these charges (in order). */
function idealLastAdmission(charges: number[], variant: LoopbackVariant): number {
  const admitted: { at: number; tokens: number }[] = [];
  let t = 0;
  for (const tokens of charges) {
    for (;;) {
      const window = admitted.filter((a) => a.at > t - LOOPBACK_WINDOW_MS);
      const used = window.reduce((sum, a) => sum + a.tokens, 0);
      if (window.length < variant.rpm && used + tokens <= variant.tpm) break;
      // The next moment something leaves the window.
      t = Math.min(...window.map((a) => a.at + LOOPBACK_WINDOW_MS));
    }
    admitted.push({ at: t, tokens });
  }
  return t;
}
