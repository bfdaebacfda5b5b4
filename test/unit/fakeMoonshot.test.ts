import * as assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { createParser } from 'eventsource-parser';
import { FakeMoonshot, countTextTokens, type FakeMoonshotOptions } from '../support/fakeMoonshot';
import { serverFault } from '../support/failures';
import { sleep, until } from '../support/wait';
import type { WireChunk, WireCompletion } from '../../src/kimi/wire';

const KEY = 'sk-test-key';
const RPM_MESSAGE = /^Your account org-fake<ak-fake> request reached organization max RPM: (\d+), please try again after (\d+) seconds$/;

let server: FakeMoonshot | undefined;

async function start(options: FakeMoonshotOptions = {}): Promise<FakeMoonshot> {
  server = new FakeMoonshot({ chunkDelayMs: 2, ...options });
  await server.start();
  return server;
}

afterEach(async () => {
  await server?.stop();
  server = undefined;
});

interface ChatBody {
  model?: string;
  messages?: { role: string; content: string }[];
  max_tokens?: number;
  stream?: boolean;
}

function post(fake: FakeMoonshot, body: ChatBody, options: { key?: string; signal?: AbortSignal; path?: string } = {}): Promise<Response> {
  const full = { model: 'moonshot-v1-8k', messages: [{ role: 'user', content: 'hello' }], max_tokens: 50, stream: true, ...body };
  return fetch(`${fake.baseUrl}${options.path ?? '/chat/completions'}`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${options.key ?? KEY}`, 'Content-Type': 'application/json' },
    body: JSON.stringify(full),
    signal: options.signal,
  });
}

/** Sends a chat request and reads it to the end; returns the status and the parsed error, if any. */
async function chat(fake: FakeMoonshot, body: ChatBody = {}): Promise<{ status: number; error?: { type?: string; message: string } }> {
  const response = await post(fake, body);
  const text = await response.text();
  return response.ok ? { status: response.status } : { status: response.status, error: JSON.parse(text).error };
}

function sseData(text: string): string[] {
  const data: string[] = [];
  const parser = createParser({ onEvent: (event) => data.push(event.data) });
  parser.feed(text);
  return data;
}

describe('FakeMoonshot answers', () => {
  it('streams reasoning, then content, usage only inside the last choice, then [DONE]', async () => {
    const fake = await start({ answerChunks: 4 });
    const messages = [{ role: 'user', content: 'Explain TPM' }];
    const response = await post(fake, { model: 'kimi-k2.6', messages, max_tokens: 300 });
    assert.match(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const data = sseData(await response.text());
    assert.equal(data.at(-1), '[DONE]');
    const chunks = data.slice(0, -1).map((d) => JSON.parse(d) as WireChunk);
    const kinds = chunks.flatMap((c) => (c.choices[0].delta.reasoning_content ? ['r'] : c.choices[0].delta.content ? ['c'] : []));
    assert.equal(kinds.join(''), 'rrrcccc', 'three reasoning chunks, then answerChunks content chunks');
    const last = chunks.at(-1)!;
    assert.equal(last.choices[0].finish_reason, 'stop');
    assert.equal(last.usage, undefined, 'no top-level usage, as Moonshot streams it');
    const usage = last.choices[0].usage!;
    assert.equal(usage.prompt_tokens, fake.countPromptTokens(messages));
    assert.equal(usage.total_tokens, usage.prompt_tokens + usage.completion_tokens);
    assert.equal(usage.cached_tokens, 0);
    assert.ok(chunks.slice(0, -1).every((c) => !c.choices[0].usage && c.choices[0].finish_reason === null));
    assert.ok(chunks.every((c) => c.object === 'chat.completion.chunk' && c.model === 'kimi-k2.6'));
    assert.equal(fake.stats.completed, 1);
  });

  it('never produces more completion tokens than max_tokens: it stops with "length"', async () => {
    const fake = await start();
    for (const maxTokens of [1, 8, 20]) {
      const data = sseData(await (await post(fake, { model: 'kimi-k2.5', max_tokens: maxTokens })).text());
      const last = JSON.parse(data.at(-2)!) as WireChunk;
      assert.equal(last.choices[0].finish_reason, 'length');
      assert.ok(last.choices[0].usage!.completion_tokens <= maxTokens, `${last.choices[0].usage!.completion_tokens} <= ${maxTokens}`);
    }
  });

  it('answers stream:false with a chat.completion carrying top-level usage', async () => {
    const fake = await start();
    const response = await post(fake, { model: 'kimi-k2.6', stream: false, max_tokens: 200 });
    const body = (await response.json()) as WireCompletion;
    assert.equal(body.object, 'chat.completion');
    assert.match(body.choices[0].message.content ?? '', /^About "hello":/);
    assert.match(body.choices[0].message.reasoning_content ?? '', /hello/);
    assert.equal(body.usage?.prompt_tokens, fake.countPromptTokens([{ role: 'user', content: 'hello' }]));
    assert.equal(fake.received[0].stream, false);
    assert.equal(fake.stats.inFlight, 0);
  });

  it('serves /models, the token estimate (uncharged) and the balance, all behind the key', async () => {
    const fake = await start();
    const get = (p: string, key = KEY): Promise<Response> => fetch(fake.baseUrl + p, { headers: { Authorization: `Bearer ${key}` } });
    const models = (await (await get('/models')).json()) as {
      object: string;
      data: { id: string; object: string; context_length: number }[];
    };
    assert.equal(models.object, 'list');
    assert.deepEqual(
      models.data.map((m) => [m.id, m.object, m.context_length]),
      [
        ['kimi-k2.6', 'model', 262144],
        ['kimi-k2.5', 'model', 262144],
        ['kimi-k2-0711-preview', 'model', 131072],
        ['moonshot-v1-8k', 'model', 8192],
      ],
    );
    const messages = [{ role: 'user', content: 'count me' }];
    const estimate = await (await post(fake, { messages }, { path: '/tokenizers/estimate-token-count' })).json();
    assert.deepEqual(estimate, { code: 0, data: { total_tokens: fake.countPromptTokens(messages) }, scode: '0x0', status: true });
    const balance = (await (await get('/users/me/balance')).json()) as { data: { available_balance: number } };
    assert.equal(typeof balance.data.available_balance, 'number');
    assert.equal((await get('/models', 'sk-wrong')).status, 401);
    assert.equal(fake.stats.chargedTokens, 0);
    assert.equal(fake.stats.requests, 0, 'only chat requests count as requests');
    assert.equal(fake.stats.httpRequests, 4);
  });
});

describe('FakeMoonshot refusals', () => {
  it("answers Moonshot's 401, 404 and 400 bodies, records them and charges nothing", async () => {
    const fake = await start();
    const wrongKey = await post(fake, {}, { key: 'sk-wrong' });
    assert.equal(wrongKey.status, 401);
    assert.deepEqual(await wrongKey.json(), { error: { message: 'Invalid Authentication', type: 'invalid_authentication_error' } });
    assert.deepEqual(await chat(fake, { model: 'kimi-k2-turbo-preview' }), {
      status: 404,
      error: { message: 'Not found the model kimi-k2-turbo-preview or Permission denied', type: 'resource_not_found_error' },
    });
    assert.deepEqual(await chat(fake, { max_tokens: 8192 }), {
      status: 400,
      error: { message: 'Invalid request: Your request exceeded model token limit: 8192', type: 'invalid_request_error' },
    });
    assert.equal((await chat(fake, { max_tokens: -3 })).status, 400);
    assert.deepEqual(
      fake.received.map((r) => [r.status, r.errorType, r.charged]),
      [
        [401, 'invalid_authentication_error', 0],
        [404, 'resource_not_found_error', 0],
        [400, 'invalid_request_error', 0],
        [400, 'invalid_request_error', 0],
      ],
    );
    assert.deepEqual(fake.stats.rejected, { invalid_authentication_error: 1, resource_not_found_error: 1, invalid_request_error: 2 });
    assert.equal(fake.stats.requests, 4);
    assert.equal(fake.stats.accepted, 0);
    assert.equal(fake.stats.chargedTokens, 0);
  });

  it('failNext answers the fault once, with its headers, uncharged', async () => {
    const fake = await start();
    const fault = serverFault.overloaded({ headers: { 'Retry-After': '3' } });
    fake.failNext(fault);
    const response = await post(fake, {});
    assert.equal(response.status, 429);
    assert.equal(response.headers.get('retry-after'), '3');
    assert.deepEqual(await response.json(), { error: { message: fault.message, type: 'engine_overloaded_error' } });
    assert.equal((await chat(fake)).status, 200);
    assert.equal(fake.stats.rejected.engine_overloaded_error, 1);
    assert.deepEqual(
      fake.received.map((r) => r.charged > 0),
      [false, true],
    );
  });
});

describe('FakeMoonshot limits', () => {
  it('charges prompt + max_tokens at admission and never refunds the unused output', async () => {
    const fake = await start();
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is a token?' },
    ];
    const data = sseData(await (await post(fake, { messages, max_tokens: 700 })).text());
    const usage = (JSON.parse(data.at(-2)!) as WireChunk).choices[0].usage!;
    const prompt = fake.countPromptTokens(messages);
    assert.ok(usage.completion_tokens < 700);
    assert.equal(fake.received[0].promptTokens, prompt);
    assert.equal(fake.received[0].charged, prompt + 700);
    assert.equal(fake.stats.chargedTokens, prompt + 700);
  });

  it('charges the server default when max_tokens is omitted, capped to the context', async () => {
    const fake = await start({
      models: [
        { id: 'moonshot-v1-8k', context_length: 8192 },
        { id: 'kimi-k2.6', context_length: 262144 },
        { id: 'tiny', context_length: 100 },
      ],
    });
    const messages = [{ role: 'user', content: 'hello' }];
    const prompt = fake.countPromptTokens(messages);
    for (const model of ['moonshot-v1-8k', 'kimi-k2.6', 'tiny']) {
      await (await post(fake, { model, max_tokens: undefined })).text();
    }
    assert.deepEqual(
      fake.received.map((r) => [r.maxTokens, r.charged]),
      [
        [undefined, prompt + 1024],
        [undefined, prompt + 32768],
        [undefined, 100],
      ],
    );
  });

  it('enforces RPM over a rolling window, not a fixed one', async () => {
    const fake = await start({ rpm: 2, windowMs: 600 });
    assert.equal((await chat(fake)).status, 200); // t≈0
    await sleep(300);
    assert.equal((await chat(fake)).status, 200); // t≈300
    const third = await chat(fake);
    assert.equal(third.status, 429);
    assert.equal(third.error?.type, 'rate_limit_reached_error');
    assert.deepEqual(RPM_MESSAGE.exec(third.error!.message)?.slice(1), ['2', '1']);
    await sleep(350);
    assert.equal((await chat(fake)).status, 200, 't≈650: the first request has left the window');
    // A fixed 600 ms window would start afresh at 600 and admit this; the rolling one still holds t≈300.
    assert.equal((await chat(fake)).status, 429);
    assert.equal(fake.stats.accepted, 3);
    assert.equal(fake.stats.rejected.rate_limit_reached_error, 2);
  });

  it('states honestly how long until the oldest request leaves the window', async () => {
    const fake = await start({ rpm: 1, windowMs: 2500 });
    await chat(fake);
    assert.deepEqual(RPM_MESSAGE.exec((await chat(fake)).error!.message)?.slice(1), ['1', '3']);
    fake.setLimits({ rpm: 0 });
    assert.equal((await chat(fake)).status, 200, 'setLimits lifts the limit at once');
  });

  it('enforces TPM over the rolling window with "current" including the refused charge', async () => {
    const fake = await start({ windowMs: 400 });
    const charge = fake.countPromptTokens([{ role: 'user', content: 'hello' }]) + 50;
    fake.setLimits({ tpm: charge * 2 + 10 });
    assert.equal((await chat(fake)).status, 200);
    assert.equal((await chat(fake)).status, 200);
    const refused = await chat(fake);
    assert.equal(refused.status, 429);
    assert.deepEqual(refused.error, {
      type: 'rate_limit_reached_error',
      message: `Your account org-fake<ak-fake> request reached organization TPM rate limit, current: ${charge * 3}, limit: ${charge * 2 + 10}`,
    });
    assert.equal(fake.stats.chargedTokens, charge * 2, 'a refused request is not charged');
    await sleep(420);
    assert.equal((await chat(fake)).status, 200, 'the window has rolled past both charges');
  });

  it('enforces TPD over dayMs', async () => {
    const fake = await start({ dayMs: 400 });
    const charge = fake.countPromptTokens([{ role: 'user', content: 'hello' }]) + 50;
    fake.setLimits({ tpd: charge + 1 });
    assert.equal((await chat(fake)).status, 200);
    const refused = await chat(fake);
    assert.equal(
      refused.error?.message,
      `Your account org-fake<ak-fake> request reached organization TPD rate limit, current: ${charge * 2}, limit: ${charge + 1}`,
    );
    await sleep(420);
    assert.equal((await chat(fake)).status, 200);
  });

  it('holds a concurrency slot until the stream ends, or until the client goes away', async () => {
    const fake = await start({ concurrency: 1, chunkDelayMs: 25 });
    const first = await post(fake, {});
    assert.equal(fake.stats.inFlight, 1);
    const refused = await chat(fake);
    assert.equal(refused.status, 429);
    assert.equal(
      refused.error?.message,
      'Your account org-fake<ak-fake> request reached max organization concurrency: 1, please try again after 1 seconds',
    );
    await first.text();
    await until('the first stream to release its slot', () => fake.stats.inFlight === 0);
    const controller = new AbortController();
    await post(fake, {}, { signal: controller.signal });
    controller.abort();
    await until('the abandoned stream to release its slot', () => fake.stats.inFlight === 0);
    assert.equal((await chat(fake)).status, 200);
    assert.equal(fake.stats.maxConcurrent, 1);
    assert.deepEqual([fake.stats.accepted, fake.stats.completed], [3, 2]);
  });

  it('lets setLimits tighten a limit live, counting what was already spent', async () => {
    const fake = await start({ windowMs: 1000 });
    await chat(fake);
    await chat(fake);
    fake.setLimits({ rpm: 2 });
    assert.equal((await chat(fake)).status, 429);
  });
});

describe('FakeMoonshot tokenizer', () => {
  it('counts with cl100k_base plus 4 tokens a message and 3 for the reply', async () => {
    const fake = new FakeMoonshot();
    // cl100k: "hello world" = 2 tokens, "user" = 1, "system" = 1, "Be brief." = 3.
    assert.equal(fake.countPromptTokens([{ role: 'user', content: 'hello world' }]), 4 + 1 + 2 + 3);
    assert.equal(
      fake.countPromptTokens([
        { role: 'system', content: 'Be brief.' },
        { role: 'user', content: 'hello world' },
      ]),
      4 + 1 + 3 + 4 + 1 + 2 + 3,
    );
  });

  it('counts special-token strings as text and bounds the work on long runs', () => {
    assert.ok(countTextTokens('say <|endoftext|> and <|im_end|>') > 6);
    const started = Date.now();
    const count = countTextTokens(`start ${'a'.repeat(50_000)} end ${' '.repeat(20_000)}x`);
    assert.ok(Date.now() - started < 500, 'a pathological run is approximated, not encoded');
    assert.ok(count > 12_500 && count < 20_000, `count ${count}`);
  });
});

describe('FakeMoonshot lifecycle', () => {
  it('stop() closes even a stalled stream and frees the port', async () => {
    const fake = await start();
    fake.faultNextStream({ kind: 'stall', afterChunks: 1 });
    const response = await post(fake, {});
    const reading = response.text().then(
      () => 'ended',
      () => 'failed',
    );
    const started = Date.now();
    await fake.stop();
    assert.ok(Date.now() - started < 500);
    assert.equal(await reading, 'failed');
    await assert.rejects(fetch(`${fake.baseUrl}/models`));
  });

  it('runs standalone from the CLI and stops on SIGTERM', async function () {
    this.timeout(5000);
    const cli = path.join(__dirname, '..', 'support', 'fakeMoonshotCli.js');
    const child = spawn(
      process.execPath,
      [cli, '--port', '0', '--rpm', '120', '--tpm', '150000', '--concurrency', '0', '--window-ms', '60000', '--chunk-delay-ms', '1'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.on('data', (part: Buffer) => (out += part.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await until('the CLI to print its address and key', () => /API key: \S+/.test(out), { timeoutMs: 30_000 });
      const baseUrl = /Fake Moonshot listening on (http:\/\/127\.0\.0\.1:\d+\/v1)/.exec(out)?.[1];
      assert.ok(baseUrl, out);
      assert.match(out, /API key: sk-test-key/);
      const models = await fetch(`${baseUrl}/models`, { headers: { Authorization: 'Bearer sk-test-key' } });
      assert.equal(models.status, 200);
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });
});
