// Faults from the server during a queue of several sends: the engine, the client and the loopback
// fake, in real time with short windows. Every send must end answered or failed with a specific
// message, the budget must stay consistent, and the sends queued after the fault must still go.
import * as assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Budget } from '../../src/core/budget';
import { systemClock } from '../../src/core/clock';
import { MemoryLedger, Spend } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, QueueOptions, SendQueue, SendRejected } from '../../src/core/sendQueue';
import { describeRejection } from '../../src/ui/words';
import { ChatResult, KimiClient, KimiError } from '../../src/kimi';
import { verdictFor } from '../../src/kimi/verdict';
import { FakeMoonshot, type Fault, type FakeMoonshotOptions, type StreamFault } from '../support/fakeMoonshot';
import { moonshotSays, serverFault } from '../support/failures';
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
  readonly recorded: { id: string; tokens: number }[] = [];
  readonly settles = new Map<string, number>();

  record(spend: Spend): void {
    super.record(spend);
    this.recorded.push({ id: spend.id, tokens: spend.tokens });
  }

  correct(id: string, change: { tokens?: number; at?: number }): void {
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
  /** How long a silent stream is waited for (IDLE_MS unless set). */
  idleTimeoutMs?: number;
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
    this.budget = new Budget(limits, systemClock, this.ledger, {
      windowMs: WINDOW_MS,
      dayMs: this.setup.dayMs ?? 86_400_000,
      marginMs: MARGIN_MS,
    });
    const options = {
      ...DEFAULT_QUEUE_OPTIONS,
      maxLength: 50,
      maxWaitMs: 10_000,
      maxAttempts: 4,
      backoffBaseMs: 100,
      backoffMaxMs: 1_000,
      ...this.setup.queue,
    };
    this.queue = new SendQueue<ChatResult>(this.budget, systemClock, verdictFor, options, () => 0.5);
    this.client = new KimiClient({
      baseUrl,
      apiKey: async () => KEY,
      idleTimeoutMs: this.setup.idleTimeoutMs ?? IDLE_MS,
      log: (line) => this.logs.push(line),
    });
    this.started = Date.now();
    return this;
  }

  /** `echoKey`: the prompt starts with the key, so the answer (and any partial of it) carries it. */
  send(i: number, extra: { model?: string; maxTokens?: number; onContent?: (delta: string) => void; echoKey?: boolean } = {}): void {
    const text = (this.texts[i] = extra.echoKey ? `${KEY} ${prompt(i)}` : prompt(i));
    const maxTokens = extra.maxTokens ?? MAX_TOKENS;
    const ticket = this.queue.enqueue({
      label: `send ${i}`,
      promptTokens: estimate(text),
      maxTokens,
      run: async ({ signal, sending, serverAnswered, number }) => {
        const attempt: Attempt = { send: i, number, startedAt: Date.now() };
        this.attempts.push(attempt);
        const request = { model: extra.model ?? MODEL, messages: [{ role: 'user' as const, content: text }], maxTokens };
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
    const outcomes = settled.map((s, i): Outcome => ({
      send: this.tickets[i].send,
      ...(s.status === 'fulfilled' ? { value: s.value } : { error: s.reason }),
    }));
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
    assert.ok(
      [...this.ledger.settles.values()].every((n) => n === 1),
      'a spend was settled twice',
    );
    for (const { send, value } of outcomes) {
      const attempts = this.attemptsOf(send);
      attempts.forEach((attempt) => {
        const spend = this.ledger.recorded[this.attempts.indexOf(attempt)];
        const gotTheAnswer = value !== undefined && attempt === attempts[attempts.length - 1];
        if (!gotTheAnswer)
          return assert.equal(spend.tokens, estimate(this.texts[send]) + MAX_TOKENS, 'a failed attempt stays spent at its estimate');
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
    assert.ok(
      this.logs.some((l) => l.includes('Authorization: Bearer [redacted]')) || !this.attempts.length,
      'requests are logged, redacted',
    );
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

function failed<E>(outcomes: Outcome[], send: number, type: abstract new (...args: never[]) => E): E {
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

/** A fault aimed at send 2 of six, and how the six sends must end. */
interface FaultCase {
  name: string;
  setup?: Setup;
  /** Injected in order, each for send 2 unless it names another prompt: error answers, or a stream that misbehaves. */
  faults: (Fault | StreamFault)[];
  /** Send 2 asks for this model (one the server does not know). */
  model?: string;
  /** Send 2 fails with this error, these field values and a message matching each pattern, and the others are answered; without it, all six are answered. */
  fails?: { error: typeof KimiError | typeof SendRejected; fields: Record<string, unknown>; message: RegExp[]; partial?: RegExp };
  /** What nothing can cure stops the line: the sends still waiting then fail too, unsent; the others are answered. */
  stops?: boolean;
  /** How many attempts send 2 made. */
  attempts?: number;
  /** The least wait before each retry of send 2: after the refusal of attempt 1, of attempt 2… */
  waits?: number[];
  /** Refusals the server counted, by error type. */
  rejected?: Record<string, number>;
  /** The server's words that the queue's pause shows. */
  evidence?: RegExp;
  /** What this case alone must also show. */
  then?: (rig: Rig) => void;
}

/** The same error answer, n times in a row. */
const times = (n: number, fault: Fault): Fault[] => Array.from({ length: n }, () => fault);

const RATE_LIMIT_CASES: FaultCase[] = [
  {
    name: 'concurrency ("max concurrency: N, please try again after 1 seconds"): paused, retried, all answered',
    faults: [serverFault.rateLimited(moonshotSays.maxConcurrency(2, 1))],
    attempts: 2,
    waits: [1_000],
    rejected: { rate_limit_reached_error: 1 },
  },
  {
    name: 'TPM, with no wait stated: backs off, at least the growing backoff each time, then answered (the exact curve: unit tests)',
    faults: times(2, serverFault.rateLimited(moonshotSays.tpm(1410, 100))),
    attempts: 3,
    waits: [BACKOFF[0], BACKOFF[1]], // the second wait is twice the first
  },
  {
    name: 'TPD with no per-day limit set: that send fails at once saying the daily limit is reached; no day-long pause for the others',
    faults: [serverFault.rateLimited(moonshotSays.tpd(1526210, 1500000))],
    fails: {
      error: SendRejected,
      fields: { reason: 'dayLimit' },
      message: [
        /daily token limit \(TPD\) is reached/,
        /TPD rate limit, current: 1526210, limit: 1500000/,
        /certain in about 25 h, longer than kimiBudget\.queue\.maxWaitSeconds \(10 s\)/,
      ],
    },
    attempts: 1, // not retried
    then: (rig) => {
      assert.equal(rig.queue.refusal, undefined, 'dispatch was not paused');
      // The day's limit the server stated is the budget's now: later sends wait for the day here.
      assert.equal(rig.budget.snapshot().limits.tokensPerDay, 1_500_000);
      assert.ok(Date.now() - rig.started < 2_000);
    },
  },
  {
    name: 'Retry-After in seconds: waits that long, though the message says less',
    faults: [serverFault.rateLimited('please try again after 0 seconds', { headers: { 'Retry-After': '1' } })],
    waits: [1_000],
  },
  {
    name: 'no hint at all (no type, no header, no wait in the message): backs off, at least the growing backoff each time',
    faults: times(2, { status: 429, message: 'Too Many Requests' }),
    waits: [BACKOFF[0], BACKOFF[1]],
    rejected: { http_429: 2 },
  },
  {
    name: 'still refused on every attempt: fails after maxAttempts as rateLimited, with the server message',
    setup: { queue: { maxAttempts: 3 } },
    faults: times(3, serverFault.rateLimited(moonshotSays.maxRpm(3, 0.1))),
    fails: {
      error: KimiError,
      fields: { kind: 'rateLimited' },
      message: [/Moonshot rate limit reached \(HTTP 429 rate_limit_reached_error\): .*max RPM: 3/],
    },
    attempts: 3,
  },
];

const STATUS_CASES: FaultCase[] = [
  {
    name: '429 exceeded_current_quota_error: never retried, the message says retrying will not help, and the sends waiting are not sent',
    faults: [serverFault.quotaExhausted()],
    stops: true,
    fails: {
      error: KimiError,
      fields: { kind: 'quotaExhausted' },
      message: [/balance or quota is exhausted.*suspended.*retrying will not help/],
    },
    attempts: 1,
  },
  {
    name: '429 engine_overloaded_error: backs off and is answered',
    faults: [serverFault.overloaded()],
    waits: [BACKOFF[0]],
    evidence: /overloaded/,
  },
  {
    name: '500 server_error: retried with backoff; on every attempt it fails after maxAttempts, naming the status',
    faults: [...times(4, serverFault.internalError()), serverFault.internalError({ prompt: 'send 3:' })],
    fails: {
      error: KimiError,
      fields: { kind: 'server', status: 500 },
      message: [/Moonshot had a server error \(HTTP 500 server_error\): Internal error/],
    },
    attempts: 4,
    then: (rig) => assert.equal(rig.attemptsOf(3).length, 2),
  },
  {
    name: '503 with Retry-After: the backoff waits at least as long as the server asked',
    faults: [{ status: 503, message: 'Service Unavailable', headers: { 'Retry-After': '1' } }],
    waits: [1_000], // not just the 75 ms backoff
  },
  {
    name: '401: not retried, asks for a valid key, and the key the server echoes is redacted',
    faults: [serverFault.incorrectKey(KEY)],
    fails: {
      error: KimiError,
      fields: { kind: 'unauthorized' },
      message: [
        /Moonshot rejected the API key \(HTTP 401 incorrect_api_key_error\): Incorrect API key provided: \[redacted\]\. Set a valid Moonshot API key\./,
      ],
    },
    attempts: 1,
    then: (rig) => assert.ok(rig.logs.some((l) => l.includes('failed (unauthorized, HTTP 401)') && l.includes('[redacted]'))),
  },
  {
    name: '404 (unknown model): not retried, names the model and the /models list',
    faults: [],
    model: 'kimi-k2-0905-preview',
    fails: { error: KimiError, fields: { kind: 'notFound' }, message: [/Not found the model kimi-k2-0905-preview.*\/models/] },
    attempts: 1,
  },
];

const STREAM_CASES: FaultCase[] = [
  {
    name: 'reset before the headers: that send fails as network, not retried; the others are answered',
    faults: [{ kind: 'resetBeforeHeaders' }],
    fails: {
      error: KimiError,
      fields: { kind: 'network', streamed: false },
      message: [
        /^The connection to Moonshot \(127\.0\.0\.1:\d+\) was dropped before it answered: .*(ECONNRESET|other side closed).*send it again/,
      ],
    },
    attempts: 1,
  },
  {
    name: 'reset in the middle of the stream: fails as network with the partial answer, not retried',
    faults: [{ kind: 'reset', afterChunks: 4 }],
    fails: {
      error: KimiError,
      fields: { kind: 'network', streamed: true },
      message: [/broke before the answer finished/],
      partial: /^About "send 2:/,
    },
    attempts: 1,
  },
  {
    name: 'a stream that stops sending without ending: abandoned after the idle timeout, the slot freed',
    faults: [{ kind: 'stall', afterChunks: 2 }],
    fails: { error: KimiError, fields: { kind: 'network' }, message: [/The answer stalled: Moonshot sent nothing for 0\.4 s/] },
    attempts: 1,
  },
  {
    name: 'no headers at all: abandoned after the idle timeout',
    faults: [{ kind: 'hang' }],
    fails: { error: KimiError, fields: { kind: 'network' }, message: [/Moonshot did not answer within 0\.4 s/] },
  },
  {
    name: 'closed with neither a finish reason nor [DONE]: fails as network, keeping what arrived',
    faults: [{ kind: 'truncate', afterChunks: 4 }],
    fails: { error: KimiError, fields: { kind: 'network' }, message: [/closed before the answer finished/], partial: /\S/ },
  },
  {
    name: 'a finish reason but no [DONE]: answered',
    faults: [{ kind: 'noDone' }],
  },
];

const CONTENT_CASES: FaultCase[] = [
  {
    name: 'a malformed SSE line mid-answer: fails as a server error naming it, not retried',
    faults: [{ kind: 'malformed', afterChunks: 4 }],
    fails: {
      error: KimiError,
      fields: { kind: 'server', streamed: true },
      message: [/malformed stream event \(not a JSON object\): "\{"choices"/],
    },
    attempts: 1,
  },
  {
    name: 'a malformed SSE line before any of the answer: retried like a server error, then answered',
    faults: [{ kind: 'malformed', afterChunks: 0 }],
    attempts: 2,
    waits: [BACKOFF[0]],
  },
  {
    name: 'an error event inside the stream: fails with its type and message',
    faults: [{ kind: 'errorEvent', afterChunks: 4 }],
    fails: { error: KimiError, fields: { type: 'server_error' }, message: [/The engine failed mid-answer/] },
  },
  {
    name: 'a JSON body where a stream was expected: answered, usage settled',
    faults: [{ kind: 'json' }],
  },
  {
    name: `an answer larger than its max_tokens allow (8 MB for ${MAX_TOKENS}): fails as a server error keeping what fits, not retried`,
    faults: [{ kind: 'huge', bytes: 8 * 1024 * 1024 }],
    fails: {
      error: KimiError,
      fields: { kind: 'server', streamed: true },
      message: [new RegExp(`larger than its max_tokens \\(${MAX_TOKENS}\\) allow`)],
      partial: /^Kimi 答案 — a long answer\.\. Kimi/,
    },
    attempts: 1,
  },
];

describe('faults from the server, during a queue of several sends (real time, 1 s windows)', function () {
  this.timeout(20_000);
  let rig: Rig;
  const begin = async (setup: Setup = {}): Promise<Rig> => (rig = await new Rig(setup).start());
  afterEach(() => rig?.stop());

  /** Injects the case's faults, sends six prompts and checks how each ended, then the case's own checks. */
  const run = async (c: FaultCase): Promise<void> => {
    await begin(c.setup);
    for (const fault of c.faults) {
      const aimed = { prompt: 'send 2:', ...fault };
      if ('kind' in aimed) rig.fake.faultNextStream(aimed);
      else rig.fake.failNext(aimed);
    }
    for (let i = 0; i < SENDS; i++) rig.send(i, i === 2 && c.model ? { model: c.model } : {});
    const outcomes = await rig.finish();
    if (c.fails) {
      const error = failed<KimiError | SendRejected>(outcomes, 2, c.fails.error);
      for (const [field, value] of Object.entries(c.fails.fields))
        assert.equal((error as unknown as Record<string, unknown>)[field], value, `the error's ${field}`);
      // What the user is told: a queue's refusal is data, put into words by the UI.
      const told = error instanceof SendRejected ? describeRejection(error.rejection) : error.message;
      for (const pattern of c.fails.message) assert.match(told, pattern);
      if (c.fails.partial) assert.match((error as KimiError).partial!.content, c.fails.partial);
      const stopped = others(2).filter((i) => outcomes.find((o) => o.send === i)!.error);
      if (c.stops) {
        for (const i of stopped) assert.equal(failed(outcomes, i, SendRejected).reason, 'accountStopped', `send ${i}`);
        assert.ok(stopped.length > 0, 'what waited was not sent');
        for (const i of stopped) assert.equal(rig.attemptsOf(i).length, 0, `send ${i} never reached the server`);
      }
      answered(
        outcomes,
        others(2).filter((i) => !c.stops || !stopped.includes(i)),
      );
    } else {
      answered(outcomes, ALL);
    }
    if (c.attempts !== undefined) assert.equal(rig.attemptsOf(2).length, c.attempts, 'attempts of send 2');
    c.waits?.forEach((ms, i) =>
      assert.ok(gapAfter(rig, 2, i + 1) >= ms - EARLY_MS, `send 2 waited at least ${ms} ms after attempt ${i + 1}`),
    );
    for (const [type, count] of Object.entries(c.rejected ?? {})) assert.equal(rig.fake.stats.rejected[type], count, `${type} refusals`);
    if (c.evidence) assert.match(rig.queue.refusal!.evidence, c.evidence);
    c.then?.(rig);
  };

  describe('429 rate_limit_reached_error', () => {
    for (const c of RATE_LIMIT_CASES) it(c.name, () => run(c));

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
      assert.deepEqual(
        after.slice(0, refused.length).map((a) => a.send),
        refused.map((a) => a.send).sort((a, b) => a - b),
      );
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
      assert.ok(
        retry.startedAt >= firstAnswer + dayMs + MARGIN_MS - EARLY_MS,
        `retried ${retry.startedAt - firstAnswer} ms after the first answer`,
      );
    });

    it('Retry-After as an HTTP date: waits until then', async () => {
      await begin();
      const at = Math.ceil((Date.now() + 1_500) / 1000) * 1000; // HTTP dates have whole seconds
      rig.fake.failNext(
        serverFault.rateLimited('slow down', { prompt: 'send 2:', headers: { 'Retry-After': new Date(at).toUTCString() } }),
      );
      rig.sendAll();
      answered(await rig.finish(), ALL);
      assert.ok(rig.attemptsOf(2)[1].startedAt >= at - EARLY_MS, `retried ${at - rig.attemptsOf(2)[1].startedAt} ms before the date`);
    });
  });

  for (const c of STATUS_CASES) it(c.name, () => run(c));

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
    for (const c of STREAM_CASES) it(c.name, () => run(c));
  });

  describe('bad content', () => {
    for (const c of CONTENT_CASES) it(c.name, () => run(c));

    it('a large answer (2 MB, multi-byte characters split across chunks) within what its max_tokens allow: answered in full', async () => {
      await begin();
      const bytes = 2 * 1024 * 1024; // 1.7 million characters: 106,000 tokens at 16 characters a token
      rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'huge', bytes });
      for (let i = 0; i < SENDS; i++) rig.send(i, i === 2 ? { maxTokens: 120_000 } : {});
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
    const echo = moonshotSays.incorrectKey(KEY);
    rig.fake.failNext(serverFault.incorrectKey(KEY, { prompt: 'send 0:' }));
    rig.fake.failNext(serverFault.rateLimited(`${echo}, please try again after 0.1 seconds`, { prompt: 'send 1:' }));
    rig.fake.failNext({ prompt: 'send 2:', status: 500, message: `<html>${echo}</html>` });
    rig.fake.failNext({ prompt: 'send 2:', status: 400, type: KEY, message: echo });
    rig.fake.faultNextStream({ prompt: 'send 3:', kind: 'reset', afterChunks: 4 });
    rig.fake.faultNextStream({ prompt: 'send 4:', kind: 'stall', afterChunks: 4 });
    rig.fake.faultNextStream({ prompt: 'send 5:', kind: 'malformed', afterChunks: 4 });
    rig.fake.faultNextStream({ prompt: 'send 6:', kind: 'truncate', afterChunks: 4 });
    for (let i = 0; i < 8; i++) rig.send(i, { echoKey: i >= 3 });
    const outcomes = await rig.finish(); // which checks every error, log line and the queue for the key
    const errors = outcomes.filter((o) => o.error).map((o) => o.error as KimiError);
    assert.deepEqual(
      errors.map((e) => e.kind),
      ['unauthorized', 'badRequest', 'network', 'network', 'server', 'network'],
    );
    assert.ok(errors.slice(0, 2).every((e) => e.message.includes('[redacted]')));
    assert.equal(errors[1].type, '[redacted]');
    assert.ok(
      errors.slice(2).every((e) => e.partial!.content.startsWith('About "[redacted] send')),
      'partial answers are redacted',
    );
    assert.match(rig.queue.refusal!.evidence, /Incorrect API key provided: \[redacted\]/, 'the evidence shown in the status bar');
    answered(outcomes, [1, 7]);
    assert.ok(outcomes[7].value!.content.includes(KEY), "an answer is the user's own text: only errors and logs are redacted");
  });

  it('cancelling a send in flight aborts its request, frees its slot at once, and its units stay spent', async () => {
    // One slot, and the cancelled answer stalls for good after its first piece of content, with a silent stream
    // waited for a whole minute: the sends behind it can only go because the cancel freed the slot.
    const IDLE_FOR_GOOD = 60_000;
    await begin({ server: { chunkDelayMs: 40 }, limits: { concurrency: 1 }, idleTimeoutMs: IDLE_FOR_GOOD });
    rig.fake.faultNextStream({ prompt: 'send 2:', kind: 'stall', afterChunks: 4 }); // its reasoning and one piece of content
    let cancelledAt = 0;
    for (let i = 0; i < SENDS; i++) {
      rig.send(
        i,
        i !== 2
          ? {}
          : {
              onContent: () => {
                if (cancelledAt) return;
                cancelledAt = Date.now();
                assert.equal(rig.queue.cancel(rig.tickets[2].id), true);
              },
            },
      );
    }
    const outcomes = await rig.finish();
    const error = failed(outcomes, 2, SendRejected);
    assert.deepEqual(error.rejection, { kind: 'cancelled', when: 'answering' });
    assert.match(describeRejection(error.rejection), /cancelled while the answer was arriving; its budget stays spent/);
    answered(outcomes, others(2));
    assert.equal(rig.fake.stats.completed, SENDS - 1, 'the cancelled answer never completed');
    assert.ok(rig.fake.received[2].charged > 0, 'the server had charged it');
    await until('the server to see the cancelled request closed', () => rig.fake.stats.inFlight === 0, { timeoutMs: 5_000 });
    const waited = rig.attemptsOf(3)[0].startedAt - cancelledAt;
    assert.ok(
      waited < IDLE_FOR_GOOD / 2,
      `the next send went ${waited} ms after the cancel, long before the stalled stream could time out`,
    );
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
