// Faults from the server during a queue of several sends: the engine, the client and the loopback
// fake, in real time with short windows. Every send must end answered or failed with a specific
// message, the budget must stay consistent, and the sends queued after the fault must still go.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Budget } from '../../src/core/budget';
import { systemClock } from '../../src/core/clock';
import { MemoryLedger } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, QueueOptions, SendQueue, SendRejected } from '../../src/core/sendQueue';
import { ChatResult, KimiClient, KimiError } from '../../src/kimi';
import { verdictFor } from '../../src/kimi/verdict';
import { FakeMoonshot, type FakeMoonshotOptions } from '../support/fakeMoonshot';
import { until } from '../support/wait';

const KEY = `sk-faults-${randomBytes(8).toString('hex')}`; // short enough for the fake to echo whole in an answer
const MODEL = 'kimi-k2.6';
const MAX_TOKENS = 64;
const WINDOW_MS = 1_000;
const MARGIN_MS = 50;
const IDLE_MS = 400;
const SENDS = 6;
/** Backoff with random() = 0.5: three quarters of 100 ms, 200 ms, 400 ms… */
const BACKOFF = [75, 150, 300];
const EARLY_MS = 2; // timers never fire early, but Date.now() and the timer clock round differently

/** Counts what the engine records and corrects, to prove that no unit is counted twice. */
class CountingLedger extends MemoryLedger {
  readonly recorded: { id: number; tokens: number }[] = [];
  readonly settles = new Map<number, number>();

  record(at: number, requests: number, tokens: number): number {
    const id = super.record(at, requests, tokens);
    this.recorded.push({ id, tokens });
    return id;
  }

  correct(id: number, change: { tokens?: number; at?: number }): void {
    if (change.tokens !== undefined) {
      this.settles.set(id, (this.settles.get(id) ?? 0) + 1);
      this.recorded.find((r) => r.id === id)!.tokens = change.tokens;
    }
    super.correct(id, change);
  }
}

interface Attempt {
  send: number;
  number: number;
  startedAt: number;
  /** The HTTP status, and when it arrived. */
  status?: number;
  answeredAt?: number;
}

interface Outcome {
  send: number;
  value?: ChatResult;
  error?: unknown;
}

interface Setup {
  server?: FakeMoonshotOptions;
  limits?: Partial<Limits>;
  queue?: Partial<QueueOptions>;
  dayMs?: number;
  /** A base URL instead of the fake's (nothing listens there). */
  baseUrl?: string;
}

const prompt = (i: number): string => `send ${i}: what does the budget engine do with fault number ${i}?`;
/** A local estimate that differs from the server's count, so that settling has something to correct. */
const estimate = (text: string): number => Math.ceil(text.length / 4) + 8;

/** The engine, the client and the fake server, with every attempt, log line and outcome recorded. */
class Rig {
  readonly fake: FakeMoonshot;
  readonly ledger = new CountingLedger();
  readonly attempts: Attempt[] = [];
  readonly logs: string[] = [];
  readonly tickets: { send: number; id: number; result: Promise<ChatResult> }[] = [];
  readonly texts: string[] = [];
  budget!: Budget;
  queue!: SendQueue<ChatResult>;
  client!: KimiClient;
  started = 0;

  constructor(private readonly setup: Setup = {}) {
    this.fake = new FakeMoonshot({ apiKey: KEY, chunkDelayMs: 5, answerChunks: 3, ...setup.server });
  }

  async start(): Promise<this> {
    const baseUrl = this.setup.baseUrl ?? (await this.fake.start());
    const limits: Limits = { requestsPerMinute: 100, tokensPerMinute: 1_000_000, concurrency: 2, tokensPerDay: 0, ...this.setup.limits };
    this.budget = new Budget(limits, systemClock, this.ledger, { windowMs: WINDOW_MS, dayMs: this.setup.dayMs ?? 86_400_000, marginMs: MARGIN_MS });
    const options = { ...DEFAULT_QUEUE_OPTIONS, maxLength: 50, maxWaitMs: 10_000, maxAttempts: 4, backoffBaseMs: 100, backoffMaxMs: 1_000, ...this.setup.queue };
    this.queue = new SendQueue<ChatResult>(this.budget, systemClock, verdictFor, options, () => 0.5);
    this.client = new KimiClient({ baseUrl, apiKey: async () => KEY, idleTimeoutMs: IDLE_MS, log: (line) => this.logs.push(line) });
    this.started = Date.now();
    return this;
  }

  /** `echoKey`: the prompt starts with the key, so the answer (and any partial of it) carries it. */
  send(i: number, extra: { model?: string; onContent?: (delta: string) => void; echoKey?: boolean } = {}): void {
    const text = (this.texts[i] = extra.echoKey ? `${KEY} ${prompt(i)}` : prompt(i));
    const ticket = this.queue.enqueue({
      label: `send ${i}`,
      promptTokens: estimate(text),
      maxTokens: MAX_TOKENS,
      run: async ({ signal, sending, serverAnswered, number }) => {
        const attempt: Attempt = { send: i, number, startedAt: Date.now() };
        this.attempts.push(attempt);
        const request = { model: extra.model ?? MODEL, messages: [{ role: 'user' as const, content: text }], maxTokens: MAX_TOKENS };
        const onResponse = (status: number): void => {
          Object.assign(attempt, { status, answeredAt: Date.now() });
          serverAnswered();
        };
        const result = await this.client.streamChat(request, { onRequest: sending, onResponse, onContent: extra.onContent }, signal);
        return { value: result, promptTokens: result.usage?.promptTokens };
      },
    });
    this.tickets.push({ send: i, ...ticket });
  }

  sendAll(count = SENDS): void {
    for (let i = 0; i < count; i++) this.send(i);
  }

  attemptsOf(send: number): Attempt[] {
    return this.attempts.filter((a) => a.send === send);
  }

  /** Waits for every send to end, then checks what must hold after any fault. */
  async finish(serverSawAll = true): Promise<Outcome[]> {
    const settled = await Promise.allSettled(this.tickets.map((t) => t.result));
    const outcomes = settled.map((s, i): Outcome => ({ send: this.tickets[i].send, ...(s.status === 'fulfilled' ? { value: s.value } : { error: s.reason }) }));
    // Nothing leaked: no waiting or running send, no concurrency slot, on either side.
    assert.equal(this.queue.waitingCount, 0);
    assert.equal(this.queue.runningCount, 0);
    assert.equal(this.budget.snapshot().inFlight, 0, 'a concurrency slot leaked');
    // Requests recorded by the engine = attempts the client made = requests the server saw.
    assert.equal(this.ledger.recorded.length, this.attempts.length);
    if (serverSawAll) {
      await until('the server to release every slot', () => this.fake.stats.inFlight === 0, { timeoutMs: 2_000 });
      assert.equal(this.fake.stats.requests, this.attempts.length, 'the server saw one request per attempt');
    }
    // No unit counted twice: each spend is settled at most once, from the server's own charge.
    assert.ok([...this.ledger.settles.values()].every((n) => n === 1), 'a spend was settled twice');
    for (const { send, value } of outcomes) {
      const attempts = this.attemptsOf(send);
      attempts.forEach((attempt) => {
        const spend = this.ledger.recorded[this.attempts.indexOf(attempt)];
        const gotTheAnswer = value !== undefined && attempt === attempts[attempts.length - 1];
        if (!gotTheAnswer) return assert.equal(spend.tokens, estimate(this.texts[send]) + MAX_TOKENS, 'a failed attempt stays spent at its estimate');
        const charged = this.fake.received.filter((r) => r.messages[0]?.content === this.texts[send])[attempt.number - 1].charged;
        assert.equal(spend.tokens, charged, `send ${send}: settled to the server's charge`);
      });
    }
    this.assertNoKey(outcomes);
    return outcomes;
  }

  /** The key is in no error, no log line, no piece of the queue's state. */
  assertNoKey(outcomes: Outcome[]): void {
    const texts = [...this.logs, JSON.stringify(this.queue.refusal ?? {}), JSON.stringify(this.queue.entries())];
    for (const { error } of outcomes) {
      if (error === undefined) continue;
      const e = error as Error;
      texts.push(String(e), e.message, e.stack ?? '', JSON.stringify(e));
    }
    for (const text of texts) assert.ok(!text.includes(KEY), `the API key leaked into: ${text.slice(0, 300)}`);
    assert.ok(this.logs.some((l) => l.includes('Authorization: Bearer [redacted]')) || !this.attempts.length, 'requests are logged, redacted');
  }

  async stop(): Promise<void> {
    this.queue?.dispose();
    await this.fake.stop();
  }
}

function answered(outcomes: Outcome[], sends: number[]): void {
  for (const send of sends) {
    const outcome = outcomes.find((o) => o.send === send)!;
    assert.ok(outcome.value, `send ${send} was answered (got ${String(outcome.error)})`);
    assert.match(outcome.value.content, new RegExp(`^About "(${KEY} )?send ${send}:`));
    assert.ok(outcome.value.usage, `send ${send} carries usage`);
  }
}

function failed<E>(outcomes: Outcome[], send: number, type: new (...args: any[]) => E): E {
  const { error } = outcomes.find((o) => o.send === send)!;
  assert.ok(error instanceof type, `send ${send} failed with a ${type.name} (got ${String(error)})`);
  return error;
}

const ALL = Array.from({ length: SENDS }, (_, i) => i);
const others = (but: number): number[] => ALL.filter((i) => i !== but);

/** The gap between an attempt's refusal and the next attempt of the same send. */
function gapAfter(rig: Rig, send: number, number: number): number {
  const [refused, retry] = [rig.attemptsOf(send)[number - 1], rig.attemptsOf(send)[number]];
  assert.ok(refused?.answeredAt && retry, `send ${send} was refused on attempt ${number} and retried`);
  return retry.startedAt - refused.answeredAt;
}

describe('faults from the server, during a queue of several sends (real time, 1 s windows)', function () {
  this.timeout(20_000);
  let rig: Rig;
  const begin = async (setup: Setup = {}): Promise<Rig> => (rig = await new Rig(setup).start());
  afterEach(() => rig?.stop());

  describe('429 rate_limit_reached_error', () => {
    it('a real RPM refusal: pauses for the stated "after N seconds", retries refused sends first and in order', async () => {
      await begin({ server: { rpm: 3, windowMs: WINDOW_MS } });
      rig.sendAll();
      const outcomes = await rig.finish();
      answered(outcomes, ALL);
      const refused = rig.attempts.filter((a) => a.status === 429);
      assert.ok(refused.length >= 1, 'the server refused at least once');
      assert.match(rig.queue.refusal!.evidence, /max RPM: 3, please try again after 1 seconds/);
      for (const attempt of refused) assert.ok(gapAfter(rig, attempt.send, attempt.number) >= 1_000 - EARLY_MS, 'waited the stated second');
      // After the first refusal, the refused sends go again before any send that had not gone yet, oldest first.
      const firstRefusal = Math.min(...refused.map((a) => a.answeredAt!));
      const after = rig.attempts.filter((a) => a.startedAt >= firstRefusal);
      assert.deepEqual(after.slice(0, refused.length).map((a) => a.send), refused.map((a) => a.send).sort((a, b) => a - b));
    });

    it('concurrency ("max concurrency: N, please try again after 1 seconds"): paused, retried, all answered', async () => {
      await begin();
      rig.fake.failNext({ prompt: 'send 2:', status: 429, type: 'rate_limit_reached_error', message: 'Your account org-x<ak-y> request reached organization max concurrency: 2, please try again after 1 seconds' });
      rig.sendAll();
      answered(await rig.finish(), ALL);
      assert.equal(rig.attemptsOf(2).length, 2);
      assert.ok(gapAfter(rig, 2, 1) >= 1_000 - EARLY_MS);
      assert.equal(rig.fake.stats.rejected.rate_limit_reached_error, 1);
    });

    it('TPM, with no wait stated: backs off exponentially with jitter, then answered', async () => {
      await begin();
      const tpm = { prompt: 'send 2:', status: 429, type: 'rate_limit_reached_error', message: 'Your account org-x<ak-y> request reached organization TPM rate limit, current:1410, limit:100' };
      rig.fake.failNext(tpm);
      rig.fake.failNext(tpm);
      rig.sendAll();
      answered(await rig.finish(), ALL);
      assert.equal(rig.attemptsOf(2).length, 3);
      assert.ok(gapAfter(rig, 2, 1) >= BACKOFF[0] - EARLY_MS);
      assert.ok(gapAfter(rig, 2, 2) >= BACKOFF[1] - EARLY_MS, 'the second wait is twice the first');
    });

    it('TPD with no per-day limit set: that send fails at once saying the daily limit is reached; no day-long pause for the others', async () => {
      await begin();
      rig.fake.failNext({ prompt: 'send 2:', status: 429, type: 'rate_limit_reached_error', message: 'Your account org-x<ak-y> request reached organization TPD rate limit, current: 1526210, limit: 1500000' });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, SendRejected);
      assert.equal(error.reason, 'waitTooLong');
      assert.match(error.message, /daily token limit \(TPD\) is reached/);
      assert.match(error.message, /TPD rate limit, current: 1526210, limit: 1500000/);
      assert.match(error.message, /certain in about 25 h, longer than kimiBudget\.queue\.maxWaitSeconds \(10 s\)/);
      assert.match(error.message, /set kimiBudget\.limits\.tokensPerDay/);
      assert.equal(rig.attemptsOf(2).length, 1, 'not retried');
      answered(outcomes, others(2));
      assert.equal(rig.queue.refusal, undefined, 'dispatch was not paused');
      assert.ok(Date.now() - rig.started < 2_000);
    });

    it('a real TPD refusal with tokensPerDay set: waits until its own spends of the day come back, then answered', async () => {
      const dayMs = 1_500;
      const charge = new FakeMoonshot().countPromptTokens([{ role: 'user', content: prompt(0) }]) + MAX_TOKENS;
      // The server's day holds 3½ sends; the engine believes in a far larger one (another client spent the rest).
      await begin({ server: { tpd: Math.floor(3.5 * charge), dayMs }, limits: { tokensPerDay: 100_000 }, dayMs });
      rig.sendAll();
      const outcomes = await rig.finish();
      answered(outcomes, ALL);
      const refused = rig.attempts.filter((a) => a.status === 429);
      assert.ok(refused.length >= 1);
      assert.ok(rig.fake.received.filter((r) => r.status === 429).every((r) => r.errorType === 'rate_limit_reached_error'));
      assert.match(rig.queue.refusal!.evidence, /TPD rate limit, current: \d+, limit: \d+/);
      // The first retry waits for the oldest spend's day to end: its answer + the day + the margin.
      const firstAnswer = Math.min(...rig.attempts.map((a) => a.answeredAt!));
      const retry = rig.attemptsOf(refused[0].send)[refused[0].number];
      assert.ok(retry.startedAt >= firstAnswer + dayMs + MARGIN_MS - EARLY_MS, `retried ${retry.startedAt - firstAnswer} ms after the first answer`);
    });

    it('Retry-After in seconds: waits that long, though the message says less', async () => {
      await begin();
      rig.fake.failNext({ prompt: 'send 2:', status: 429, type: 'rate_limit_reached_error', message: 'please try again after 0 seconds', headers: { 'Retry-After': '1' } });
      rig.sendAll();
      answered(await rig.finish(), ALL);
      assert.ok(gapAfter(rig, 2, 1) >= 1_000 - EARLY_MS);
    });

    it('Retry-After as an HTTP date: waits until then', async () => {
      await begin();
      const at = Math.ceil((Date.now() + 1_500) / 1000) * 1000; // HTTP dates have whole seconds
      rig.fake.failNext({ prompt: 'send 2:', status: 429, type: 'rate_limit_reached_error', message: 'slow down', headers: { 'Retry-After': new Date(at).toUTCString() } });
      rig.sendAll();
      answered(await rig.finish(), ALL);
      assert.ok(rig.attemptsOf(2)[1].startedAt >= at - EARLY_MS, `retried ${at - rig.attemptsOf(2)[1].startedAt} ms before the date`);
    });

    it('no hint at all (no type, no header, no wait in the message): exponential backoff', async () => {
      await begin();
      for (let i = 0; i < 2; i++) rig.fake.failNext({ prompt: 'send 2:', status: 429, message: 'Too Many Requests' });
      rig.sendAll();
      answered(await rig.finish(), ALL);
      assert.ok(gapAfter(rig, 2, 1) >= BACKOFF[0] - EARLY_MS);
      assert.ok(gapAfter(rig, 2, 2) >= BACKOFF[1] - EARLY_MS);
      assert.equal(rig.fake.stats.rejected.http_429, 2);
    });

    it('still refused on every attempt: fails after maxAttempts as rateLimited, with the server message', async () => {
      await begin({ queue: { maxAttempts: 3 } });
      for (let i = 0; i < 3; i++) rig.fake.failNext({ prompt: 'send 2:', status: 429, type: 'rate_limit_reached_error', message: 'request reached organization max RPM: 3, please try again after 0.1 seconds' });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.kind, 'rateLimited');
      assert.match(error.message, /Moonshot rate limit reached \(HTTP 429 rate_limit_reached_error\): .*max RPM: 3/);
      assert.equal(rig.attemptsOf(2).length, 3);
      answered(outcomes, others(2));
    });
  });

  it('429 exceeded_current_quota_error: never retried, and the message says retrying will not help', async () => {
    await begin();
    rig.fake.failNext({ prompt: 'send 2:', status: 429, type: 'exceeded_current_quota_error', message: 'Your account org-x<ak-y> is suspended, please check your plan and billing details' });
    rig.sendAll();
    const outcomes = await rig.finish();
    const error = failed(outcomes, 2, KimiError);
    assert.equal(error.kind, 'quotaExhausted');
    assert.match(error.message, /balance or quota is exhausted.*suspended.*retrying will not help/);
    assert.equal(rig.attemptsOf(2).length, 1);
    answered(outcomes, others(2));
  });

  it('429 engine_overloaded_error: backs off and is answered', async () => {
    await begin();
    rig.fake.failNext({ prompt: 'send 2:', status: 429, type: 'engine_overloaded_error', message: 'The engine is currently overloaded, please try again later' });
    rig.sendAll();
    answered(await rig.finish(), ALL);
    assert.ok(gapAfter(rig, 2, 1) >= BACKOFF[0] - EARLY_MS);
    assert.match(rig.queue.refusal!.evidence, /overloaded/);
  });

  it('500 server_error: retried with backoff; on every attempt it fails after maxAttempts, naming the status', async () => {
    await begin();
    for (let i = 0; i < 4; i++) rig.fake.failNext({ prompt: 'send 2:', status: 500, type: 'server_error', message: 'Internal error' });
    rig.fake.failNext({ prompt: 'send 3:', status: 500, type: 'server_error', message: 'Internal error' });
    rig.sendAll();
    const outcomes = await rig.finish();
    const error = failed(outcomes, 2, KimiError);
    assert.equal(error.kind, 'server');
    assert.equal(error.status, 500);
    assert.match(error.message, /Moonshot had a server error \(HTTP 500 server_error\): Internal error/);
    assert.equal(rig.attemptsOf(2).length, 4);
    assert.equal(rig.attemptsOf(3).length, 2);
    answered(outcomes, others(2));
  });

  it('503 with Retry-After: the backoff waits at least as long as the server asked', async () => {
    await begin();
    rig.fake.failNext({ prompt: 'send 2:', status: 503, message: 'Service Unavailable', headers: { 'Retry-After': '1' } });
    rig.sendAll();
    answered(await rig.finish(), ALL);
    assert.ok(gapAfter(rig, 2, 1) >= 1_000 - EARLY_MS, 'not just the 75 ms backoff');
  });

  it('401: not retried, asks for a valid key, and the key the server echoes is redacted', async () => {
    await begin();
    rig.fake.failNext({ prompt: 'send 2:', status: 401, type: 'incorrect_api_key_error', message: `Incorrect API key provided: ${KEY}` });
    rig.sendAll();
    const outcomes = await rig.finish();
    const error = failed(outcomes, 2, KimiError);
    assert.equal(error.kind, 'unauthorized');
    assert.match(error.message, /Moonshot rejected the API key \(HTTP 401 incorrect_api_key_error\): Incorrect API key provided: \[redacted\]\. Set a valid Moonshot API key\./);
    assert.ok(rig.logs.some((l) => l.includes('failed (unauthorized, HTTP 401)') && l.includes('[redacted]')));
    assert.equal(rig.attemptsOf(2).length, 1);
    answered(outcomes, others(2));
  });

  it('404 (unknown model): not retried, names the model and the /models list', async () => {
    await begin();
    for (let i = 0; i < SENDS; i++) rig.send(i, i === 2 ? { model: 'kimi-k2-0905-preview' } : {});
    const outcomes = await rig.finish();
    const error = failed(outcomes, 2, KimiError);
    assert.equal(error.kind, 'notFound');
    assert.match(error.message, /Not found the model kimi-k2-0905-preview.*\/models/);
    assert.equal(rig.attemptsOf(2).length, 1);
    answered(outcomes, others(2));
  });

  it('connection refused: every send fails as network, naming the address; the queue then works once a server listens', async () => {
    const port = await freePort();
    await begin({ baseUrl: `http://127.0.0.1:${port}/v1`, server: { port } });
    rig.sendAll(3);
    const outcomes = await rig.finish(false);
    for (const { error } of outcomes) {
      assert.ok(error instanceof KimiError && error.kind === 'network', String(error));
      assert.match(error.message, new RegExp(`^Could not reach Moonshot at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    }
    assert.equal(rig.attempts.length, 3, 'not retried');
    await rig.fake.start(); // the same port
    for (let i = 3; i < SENDS; i++) rig.send(i);
    answered(await rig.finish(false), [3, 4, 5]);
    assert.equal(rig.fake.stats.requests, 3);
  });

  describe('the connection or the stream breaks', () => {
    it('reset before the headers: that send fails as network, not retried; the others are answered', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'resetBeforeHeaders' });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.kind, 'network');
      assert.equal(error.streamed, false);
      assert.match(error.message, /^The connection to Moonshot \(127\.0\.0\.1:\d+\) was dropped before it answered: .*(ECONNRESET|other side closed).*send it again/);
      assert.equal(rig.attemptsOf(2).length, 1);
      answered(outcomes, others(2));
    });

    it('reset in the middle of the stream: fails as network with the partial answer, not retried', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'reset', afterChunks: 4 });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.kind, 'network');
      assert.equal(error.streamed, true);
      assert.match(error.message, /broke before the answer finished/);
      assert.match(error.partial!.content, /^About "send 2:/);
      assert.equal(rig.attemptsOf(2).length, 1);
      answered(outcomes, others(2));
    });

    it('a stream that stops sending without ending: abandoned after the idle timeout, the slot freed', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'stall', afterChunks: 2 });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.kind, 'network');
      assert.match(error.message, /The answer stalled: Moonshot sent nothing for 0\.4 s/);
      assert.equal(rig.attemptsOf(2).length, 1);
      answered(outcomes, others(2));
    });

    it('no headers at all: abandoned after the idle timeout', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'hang' });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.kind, 'network');
      assert.match(error.message, /Moonshot did not answer within 0\.4 s/);
      answered(outcomes, others(2));
    });

    it('closed with neither a finish reason nor [DONE]: fails as network, keeping what arrived', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'truncate', afterChunks: 4 });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.kind, 'network');
      assert.match(error.message, /closed before the answer finished/);
      assert.ok(error.partial?.content);
      answered(outcomes, others(2));
    });

    it('a finish reason but no [DONE]: answered', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'noDone' });
      rig.sendAll();
      answered(await rig.finish(), ALL);
    });
  });

  describe('bad content', () => {
    it('a malformed SSE line mid-answer: fails as a server error naming it, not retried', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'malformed', afterChunks: 4 });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.kind, 'server');
      assert.equal(error.streamed, true);
      assert.match(error.message, /malformed stream event \(not a JSON object\): "\{"choices"/);
      assert.equal(rig.attemptsOf(2).length, 1);
      answered(outcomes, others(2));
    });

    it('a malformed SSE line before any of the answer: retried like a server error, then answered', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'malformed', afterChunks: 0 });
      rig.sendAll();
      answered(await rig.finish(), ALL);
      assert.equal(rig.attemptsOf(2).length, 2);
      assert.ok(gapAfter(rig, 2, 1) >= BACKOFF[0] - EARLY_MS);
    });

    it('an error event inside the stream: fails with its type and message', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'errorEvent', afterChunks: 4 });
      rig.sendAll();
      const outcomes = await rig.finish();
      const error = failed(outcomes, 2, KimiError);
      assert.equal(error.type, 'server_error');
      assert.match(error.message, /The engine failed mid-answer/);
      answered(outcomes, others(2));
    });

    it('a JSON body where a stream was expected: answered, usage settled', async () => {
      await begin();
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'json' });
      rig.sendAll();
      answered(await rig.finish(), ALL);
    });

    it('a huge answer (8 MB, multi-byte characters split across chunks): answered in full', async () => {
      await begin();
      const bytes = 8 * 1024 * 1024;
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'huge', bytes });
      rig.sendAll();
      const outcomes = await rig.finish();
      answered(outcomes, others(2));
      const { value } = outcomes.find((o) => o.send === 2)!;
      assert.equal(Buffer.byteLength(value!.content), bytes);
      assert.equal(value!.content, 'Kimi 答案 — a long answer.. '.repeat(bytes / 32));
      assert.equal(value!.finishReason, 'stop');
    });
  });

  it('the API key is in no error, log line or queue state, though the server echoes it in every fault', async () => {
    await begin();
    const echo = `Incorrect API key provided: ${KEY}`;
    rig.fake.failNext({ prompt: 'send 0:', status: 401, type: 'incorrect_api_key_error', message: echo });
    rig.fake.failNext({ prompt: 'send 1:', status: 429, type: 'rate_limit_reached_error', message: `${echo}, please try again after 0.1 seconds` });
    rig.fake.failNext({ prompt: 'send 2:', status: 500, message: `<html>${echo}</html>` });
    rig.fake.failNext({ prompt: 'send 2:', status: 400, type: KEY, message: echo });
    rig.fake.faultNextStream({ prompt: 'send 3:', kind: 'reset', afterChunks: 4 });
    rig.fake.faultNextStream({ prompt: 'send 4:', kind: 'stall', afterChunks: 4 });
    rig.fake.faultNextStream({ prompt: 'send 5:', kind: 'malformed', afterChunks: 4 });
    rig.fake.faultNextStream({ prompt: 'send 6:', kind: 'truncate', afterChunks: 4 });
    for (let i = 0; i < 8; i++) rig.send(i, { echoKey: i >= 3 });
    const outcomes = await rig.finish(); // which checks every error, log line and the queue for the key
    const errors = outcomes.filter((o) => o.error).map((o) => o.error as KimiError);
    assert.deepEqual(errors.map((e) => e.kind), ['unauthorized', 'badRequest', 'network', 'network', 'server', 'network']);
    assert.ok(errors.slice(0, 2).every((e) => e.message.includes('[redacted]')));
    assert.equal(errors[1].type, '[redacted]');
    assert.ok(errors.slice(2).every((e) => e.partial!.content.startsWith('About "[redacted] send')), 'partial answers are redacted');
    assert.match(rig.queue.refusal!.evidence, /Incorrect API key provided: \[redacted\]/, 'the evidence shown in the status bar');
    answered(outcomes, [1, 7]);
    assert.ok(outcomes[7].value!.content.includes(KEY), "an answer is the user's own text: only errors and logs are redacted");
  });

  it('cancelling a send in flight aborts its request, frees its slot at once, and its units stay spent', async () => {
    await begin({ server: { chunkDelayMs: 40 }, limits: { concurrency: 1 } });
    let cancelledAt = 0;
    for (let i = 0; i < SENDS; i++) {
      rig.send(i, i !== 2 ? {} : {
        onContent: () => {
          if (cancelledAt) return;
          cancelledAt = Date.now();
          assert.equal(rig.queue.cancel(rig.tickets[2].id), true);
        },
      });
    }
    const outcomes = await rig.finish();
    const error = failed(outcomes, 2, SendRejected);
    assert.equal(error.reason, 'cancelled');
    assert.match(error.message, /cancelled while the answer was arriving; its budget stays spent/);
    answered(outcomes, others(2));
    assert.equal(rig.fake.stats.completed, SENDS - 1, 'the server stopped sending the cancelled answer');
    assert.ok(rig.fake.received[2].charged > 0, 'the server had charged it');
    assert.ok(rig.attemptsOf(3)[0].startedAt - cancelledAt < 150, 'the next send went as soon as the slot was freed');
    const spend = rig.ledger.recorded[rig.attempts.indexOf(rig.attemptsOf(2)[0])];
    assert.equal(spend.tokens, estimate(prompt(2)) + MAX_TOKENS, 'the units stay spent');
  });
});

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}
