// The send pipeline with no editor: the budget on a manual clock, real HTTP on loopback to the
// Moonshot-like server. Count → queue → stream → settle → calibrate → cost → keep, as a
// specification: given these limits and these sends, this is what the server, the budget, the
// calibration, the session's cost and the conversations hold.
import * as assert from 'node:assert/strict';
import { Budget } from '../../src/core/budget';
import { Config, parseConfig } from '../../src/core/config';
import { Conversation } from '../../src/core/conversation';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, SendQueue, SendRejected } from '../../src/core/sendQueue';
import { ChatResult, KimiError } from '../../src/kimi';
import { verdictFor } from '../../src/kimi/verdict';
import { Conversations } from '../../src/send/conversations';
import { SendPipeline } from '../../src/send/sendPipeline';
import { SessionCost } from '../../src/send/sessionCost';
import { Calibration } from '../../src/tokens/calibration';
import { countTextTokens, FakeMoonshot } from '../support/fakeMoonshot';
import { ManualClock, settle } from '../support/manualClock';

const KEY = 'sk-pipeline-test';
const WINDOW_MS = 60_000;
const MARGIN_MS = 500;

/** Counts as the server does (cl100k stands in for Kimi's vocabulary there): the calibration then learns its framing. */
const count = async (text: string) => ({ tokens: countTextTokens(text), exact: true });

async function rig(limits: Partial<Limits> = {}, settings: Record<string, unknown> = {}) {
  const fake = new FakeMoonshot({ apiKey: KEY, chunkDelayMs: 1 });
  const baseUrl = await fake.start();
  const clock = new ManualClock();
  let config: Config = parseConfig((k) => ({ baseUrl, maxOutputTokens: 200, ...settings })[k]).config;
  const budget = new Budget({ ...config.limits, ...limits }, clock, undefined, {
    windowMs: WINDOW_MS,
    dayMs: 86_400_000,
    marginMs: MARGIN_MS,
  });
  const queue = new SendQueue<ChatResult>(budget, clock, verdictFor, DEFAULT_QUEUE_OPTIONS, () => 0.5);
  const calibration = new Calibration();
  const conversations = new Conversations();
  const session = new SessionCost();
  let key: string | undefined = KEY;
  const pipeline = new SendPipeline({
    config: () => config,
    apiKey: async () => key,
    count,
    calibration,
    queue,
    conversations,
    session,
    now: () => clock.now(),
  });
  const events = { conversations: 0, session: 0, calibrated: [] as string[] };
  conversations.onDidChange(() => events.conversations++);
  session.onDidChange(() => events.session++);
  pipeline.onDidCalibrate((model) => events.calibrated.push(model));
  return {
    fake,
    clock,
    budget,
    queue,
    calibration,
    conversations,
    session,
    pipeline,
    events,
    setKey: (value: string | undefined) => (key = value),
    setConfig: (change: Partial<Config>) => (config = { ...config, ...change }),
    stop: () => (queue.dispose(), fake.stop()),
  };
}

type Rig = Awaited<ReturnType<typeof rig>>;

async function ask(r: Rig, prompt: string, conversation?: Conversation) {
  const c = conversation ?? r.conversations.start(prompt.slice(0, 20), '', r.clock.now());
  return r.pipeline.send(await r.pipeline.count(c, prompt), prompt);
}

describe('SendPipeline', () => {
  let r: Rig;
  afterEach(async () => r?.stop());

  it("counts the whole request, queues it, streams it, settles the budget to the server's count, calibrates, costs and keeps it", async () => {
    r = await rig();
    const conversation = r.conversations.start('A question', '', r.clock.now());
    const request = await r.pipeline.count(conversation, 'What is a rolling window?');
    const local = countTextTokens('What is a rolling window?');
    assert.equal(request.estimate.tokens, local + 4, "the content and one message's framing, uncalibrated");
    assert.equal(request.maxCostUsd, ((local + 4) * 0.95 + 200 * 4) / 1e6, "kimi-k2.6's built-in price, every output token used");
    assert.equal(r.budget.snapshot().requestsUsed, 0, 'counting spends nothing');

    const deltas: string[] = [];
    const queued = r.pipeline.send(request, 'A question', { content: (d) => deltas.push(d) });
    assert.deepEqual(
      [r.budget.snapshot().requestsUsed, r.budget.snapshot().tokensUsed],
      [1, local + 4 + 200],
      'admitted at once: the estimate + max_tokens',
    );
    const { result, exchange, context } = await queued.outcome;

    const served = r.fake.received.at(-1)!;
    assert.deepEqual(served.messages, [{ role: 'user', content: 'What is a rolling window?' }]);
    assert.equal(served.maxTokens, 200);
    assert.equal(deltas.join(''), result.content);
    assert.equal(r.budget.snapshot().tokensUsed, served.promptTokens + 200, 'settled to what the server charged');
    assert.equal(r.budget.snapshot().inFlight, 0);
    assert.equal(r.calibration.samples('kimi-k2.6'), 1);
    assert.deepEqual(r.events.calibrated, ['kimi-k2.6']);
    const usage = result.usage!;
    assert.equal(exchange.costUsd, (usage.promptTokens * 0.95 + usage.completionTokens * 4) / 1e6);
    assert.equal(r.session.usd, exchange.costUsd);
    assert.equal(r.events.session, 1);
    assert.deepEqual(r.conversations.get(conversation.id)!.exchanges, [exchange]);
    assert.equal(exchange.answer, result.content);
    assert.equal(exchange.at, r.clock.now());
    assert.deepEqual(context, { used: usage.promptTokens + usage.completionTokens, window: 262_144 });
    assert.ok(r.events.conversations >= 2, 'started, then answered');
  });

  it('a follow-up carries the earlier turns and is counted whole; the calibration learned from the first answer applies', async () => {
    r = await rig();
    const first = await (await ask(r, 'Name a prime.')).outcome;
    const conversation = r.conversations.latest()!;
    const request = await r.pipeline.count(conversation, 'And another?');
    assert.deepEqual(
      request.messages.map((m) => m.content),
      ['Name a prime.', first.result.content, 'And another?'],
    );
    assert.equal(request.estimate.calibrated, true);
    assert.equal(request.estimate.tokens, r.calibration.estimate('kimi-k2.6', request.estimate.contentTokens, 3).tokens);
    await r.pipeline.send(request, 'And another?').outcome;
    assert.deepEqual(
      r.fake.received.at(-1)!.messages.map((m) => m.content),
      ['Name a prime.', first.result.content, 'And another?'],
    );
    assert.equal(conversation.exchanges.length, 2);
  });

  it('a send over the limit waits in the queue, reaches the server only once a unit is back, and is answered', async () => {
    r = await rig({ requestsPerMinute: 1 });
    await (
      await ask(r, 'First.')
    ).outcome;
    const second = await ask(r, 'Second.');
    await settle();
    assert.equal(r.fake.stats.requests, 1, 'nothing more is sent while the minute is spent');
    assert.equal(r.queue.entries().find((e) => e.id === second.id)?.state, 'waiting');
    await r.clock.advance(WINDOW_MS + MARGIN_MS);
    await second.outcome;
    assert.equal(r.fake.stats.requests, 2);
  });

  it('a send whose request never leaves (the key is gone) fails as unauthorized and gives its units back', async () => {
    r = await rig();
    r.setKey(undefined);
    const queued = await ask(r, 'Never sent.');
    await assert.rejects(queued.outcome, (e: KimiError) => e.kind === 'unauthorized');
    assert.deepEqual([r.budget.snapshot().requestsUsed, r.budget.snapshot().tokensUsed], [0, 0]);
    assert.equal(r.fake.stats.httpRequests, 0);
    assert.equal(r.session.usd, 0);
    assert.equal(r.calibration.samples('kimi-k2.6'), 0);
  });

  it('a refused request (400) stays spent, and nothing is kept in the conversation', async () => {
    r = await rig();
    r.fake.failNext({ status: 400, type: 'invalid_request_error', message: 'Invalid request: bad' });
    const queued = await ask(r, 'Refused.');
    await assert.rejects(queued.outcome, (e: KimiError) => e.kind === 'badRequest');
    assert.equal(r.budget.snapshot().requestsUsed, 1, 'the server saw it');
    assert.deepEqual(r.conversations.latest(), undefined);
  });

  it('cancelling a waiting send rejects it as cancelled and sends nothing', async () => {
    r = await rig({ requestsPerMinute: 1 });
    await (
      await ask(r, 'First.')
    ).outcome;
    const waiting = await ask(r, 'Cancelled while it waits.');
    assert.equal(r.pipeline.cancel(waiting.id), true);
    await assert.rejects(waiting.outcome, (e: SendRejected) => e.reason === 'cancelled');
    await r.clock.advance(WINDOW_MS + MARGIN_MS);
    assert.equal(r.fake.stats.requests, 1);
  });

  it('an overflowing follow-up says how many of the oldest exchanges to let go of; a budgeted summary replaces them', async () => {
    r = await rig();
    await (
      await ask(r, `One: ${'word '.repeat(400)}`)
    ).outcome;
    const conversation = r.conversations.latest()!;
    await r.pipeline.send(await r.pipeline.count(conversation, 'Two.'), 'Two.').outcome;
    const whole = await r.pipeline.count(conversation, 'Three.');
    assert.equal(whole.overflow, undefined);
    r.setConfig({ maxOutputTokens: 262_144 - whole.estimate.tokens + whole.estimate.perMessage[0] + whole.estimate.perMessage[1] - 10 });
    const over = await r.pipeline.count(conversation, 'Three.');
    assert.deepEqual(over.overflow && { exchanges: over.overflow.exchanges, freesTokens: over.overflow.freesTokens }, {
      exchanges: 1,
      freesTokens: whole.estimate.perMessage[0] + whole.estimate.perMessage[1],
    });
    r.setConfig({ maxOutputTokens: 200 });
    const requests = r.fake.stats.requests;
    const summary = await r.pipeline.summarise(conversation, 1, 'summary');
    assert.match(
      (await summary.outcome) ?? '',
      /^About "User: One: word/,
      "the model's answer to the summary request, which carries the oldest exchange",
    );
    assert.equal(r.fake.stats.requests, requests + 1, 'one extra request, through the budget');
    assert.equal(r.budget.snapshot().requestsUsed, requests + 1);
    assert.equal(conversation.exchanges.length, 2, 'the summary is not an exchange of the conversation');
  });

  it("the context window is the one the server's model list states, for a model this extension does not know, asked once", async () => {
    r = await rig({}, { model: 'moonshot-v1-8k', maxOutputTokens: 8_192 }); // the fake lists it with 8,192 tokens of context
    const conversation = r.conversations.start('long', '', r.clock.now());
    const counted = await r.pipeline.count(conversation, 'Short.');
    assert.throws(
      () => r.pipeline.send(counted, 'Short.'),
      (e: unknown) =>
        e instanceof SendRejected &&
        e.rejection.kind === 'impossible' &&
        e.rejection.limit === 'contextWindow' &&
        e.rejection.capacity === 8_192,
    );
    await r.pipeline.count(conversation, 'Again.');
    assert.equal(r.fake.stats.httpRequests, 1, 'one GET /models for every count of this base URL; no chat request');
  });
});

describe('SendPipeline: a chat request with tools', () => {
  let r: Rig;
  afterEach(async () => r?.stop());

  const readFile = {
    name: 'read_file',
    description: 'Reads a file of the workspace',
    parameters: { type: 'object', properties: { path: { type: 'string' } }, required: ['path'] },
  };

  it('is costed whole: every message, the tool calls and results it carries, the tool schemas, and max_tokens', async () => {
    r = await rig();
    const messages = [
      { role: 'user' as const, content: 'Use read_file on the README.' },
      { role: 'assistant' as const, content: '', toolCalls: [{ id: 'c1', name: 'read_file', input: { path: 'README.md' } }] },
      { role: 'tool' as const, toolCallId: 'c1', content: '# Kimi Budget' },
    ];
    const bare = await r.pipeline.countChat({ messages, tools: [] });
    const counted = await r.pipeline.countChat({ messages, tools: [readFile], maxOutputTokens: 300 });
    const schemaTokens = countTextTokens(JSON.stringify([readFile]));
    const expected =
      countTextTokens('Use read_file on the README.') +
      countTextTokens('read_file{"path":"README.md"}') +
      countTextTokens('# Kimi Budget') +
      schemaTokens +
      4 * 4; // three messages and the schemas, each framed
    assert.equal(counted.estimate.tokens, expected);
    assert.equal(counted.estimate.tokens - bare.estimate.tokens, schemaTokens + 4, 'the tools are charged too');
    assert.equal(counted.cost, expected + 300, 'what the budget takes at admission: the prompt and max_tokens');
    assert.equal(counted.maxCostUsd, (expected * 0.95 + 300 * 4) / 1e6);
  });

  for (const inline of [false, true]) {
    it(`a tool call round-trips (${inline ? "Kimi's inline markup" : 'tool_calls deltas'}); both requests are admitted, settled and released on the budget`, async () => {
      r = await rig();
      r.fake.inlineToolCalls = inline;
      const first = await r.pipeline.countChat({
        messages: [{ role: 'user', content: 'Please use read_file on README.md' }],
        tools: [readFile],
      });
      const calls: unknown[] = [];
      const texts: string[] = [];
      const answer = await r.pipeline.sendChat(first, 'chat', { toolCall: (c) => calls.push(c), content: (d) => texts.push(d) }).outcome;
      const call = { id: 'functions.read_file:0', name: 'read_file', input: { path: 'Please use read_file on README.md' } };
      assert.deepEqual(calls, [call]);
      assert.deepEqual(answer.toolCalls, [call]);
      assert.equal(texts.join(''), '', 'no markup reaches the text');
      assert.equal(answer.finishReason, 'tool_calls');
      assert.deepEqual(r.fake.received.at(-1)!.tools, ['read_file']);

      const second = await r.pipeline.countChat({
        messages: [
          { role: 'user', content: 'Please use read_file on README.md' },
          { role: 'assistant', content: '', toolCalls: answer.toolCalls },
          { role: 'tool', toolCallId: call.id, content: '# Kimi Budget' },
        ],
        tools: [readFile],
      });
      const reply = await r.pipeline.sendChat(second, 'chat').outcome;
      assert.equal(reply.content, 'The tool answered: "# Kimi Budget".');
      const served = r.fake.received.map((q) => q.promptTokens + (q.maxTokens ?? 0));
      const snapshot = r.budget.snapshot();
      assert.deepEqual([snapshot.requestsUsed, snapshot.tokensUsed, snapshot.inFlight], [2, served[0] + served[1], 0]);
      assert.equal(r.calibration.samples('kimi-k2.6'), 2, 'the server taught the calibration');
      assert.equal(r.conversations.latest(), undefined, "the chat keeps its own history: nothing goes into the extension's");
    });
  }

  it('over the limit it waits in the line with the other sends, and a cancel takes it out before it is sent', async () => {
    r = await rig({ requestsPerMinute: 1 });
    const counted = await r.pipeline.countChat({ messages: [{ role: 'user', content: 'One' }], tools: [] });
    await r.pipeline.sendChat(counted, 'first').outcome;
    const waiting = r.pipeline.sendChat(counted, 'second');
    const cancelled = r.pipeline.sendChat(counted, 'third');
    assert.deepEqual(
      r.queue.entries().map((e) => [e.label, e.state]),
      [
        ['second', 'waiting'],
        ['third', 'waiting'],
      ],
    );
    assert.equal(r.pipeline.cancel(cancelled.id), true);
    await assert.rejects(cancelled.outcome, (e: SendRejected) => e.reason === 'cancelled');
    await r.clock.advance(WINDOW_MS + MARGIN_MS);
    await waiting.outcome;
    assert.equal(r.fake.stats.requests, 2, 'the cancelled one never reached the server');
    assert.equal(r.fake.stats.rejected.rate_limit_reached_error ?? 0, 0);
  });
});
