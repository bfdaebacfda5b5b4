// The stream reader under random streams: valid SSE split anywhere into network chunks, with
// comments, unknown fields and blank lines between events and usage in any of its places, must
// read the same; a garbage `data:` line must fail as 'server'; a cut must fail as 'network'.
import * as assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { KimiClient, KimiError, type ChatResult } from '../../src/kimi';
import { kimiErrorFrom } from '../support/failures';

const RUNS = { exactChunks: 400, loopback: 100, garbage: 300, cut: 300 };
const KEY = 'sk-prop-stream-0123456789abcdef';

interface WireUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  cached_tokens?: number;
}

interface StreamSpec {
  reasoning: string[];
  content: string[];
  usage: WireUsage;
  /** In the finish chunk's choice (Moonshot), at its top level, both, a chunk of its own with no choices, or absent. */
  usageAt: 'choice' | 'topLevel' | 'both' | 'ownChunk' | 'none';
  finishInOwnChunk: boolean;
  done: boolean;
  eol: '\n' | '\r\n' | '\r';
  /** `data: {…}` or `data:{…}`. */
  space: boolean;
  /** Lines the SSE parser must ignore, before each event: comments, unknown fields, blank lines. */
  noise: string[][];
}

const textArb = fc.oneof(
  fc.string({ unit: 'grapheme', maxLength: 12 }),
  fc.constantFrom('\n\ndata: [DONE]\n\n', '\r\n', 'data: {"x":1}', '答案', '😀', '\\"', ' ', ''),
);
const noiseLineArb = fc
  .oneof(
    fc.string({ unit: 'grapheme-ascii', maxLength: 20 }).map((s) => `:${s}`),
    fc.constantFrom('', 'event: message', 'event: ping', 'id: 42', 'retry: 3000', 'x-moonshot-trace: abc', 'ping'),
  )
  .filter((line) => !/[\r\n]/.test(line) && !line.startsWith('data'));
const usageArb: fc.Arbitrary<WireUsage> = fc
  .record({
    prompt_tokens: fc.nat(100_000),
    completion_tokens: fc.nat(100_000),
    cached_tokens: fc.option(fc.nat(100_000), { nil: undefined }),
  })
  .map((u) => ({ ...u, total_tokens: u.prompt_tokens + u.completion_tokens }));
const specArb: fc.Arbitrary<StreamSpec> = fc.record({
  reasoning: fc.array(textArb, { maxLength: 5 }),
  content: fc.array(textArb, { maxLength: 6 }),
  usage: usageArb,
  usageAt: fc.constantFrom('choice' as const, 'topLevel' as const, 'both' as const, 'ownChunk' as const, 'none' as const),
  finishInOwnChunk: fc.boolean(),
  done: fc.boolean(),
  eol: fc.constantFrom('\n' as const, '\r\n' as const, '\r' as const),
  space: fc.boolean(),
  noise: fc.array(fc.array(noiseLineArb, { maxLength: 3 }), { minLength: 16, maxLength: 16 }),
});
/** Where to cut the bytes into network chunks: random positions, or every single byte. */
const splitsArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.nat(), { maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constant('every byte' as const) },
);

/** The `data:` payloads of a stream, in order ([DONE] not included). */
function payloads(spec: StreamSpec): string[] {
  const chunk = (choice: object | undefined, usage?: WireUsage) =>
    JSON.stringify({
      id: 'chatcmpl-prop',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'kimi-k2.6',
      choices: choice ? [{ index: 0, ...choice }] : [],
      ...(usage ? { usage } : {}),
    });
  const inChoice = spec.usageAt === 'choice' || spec.usageAt === 'both' ? { usage: spec.usage } : {};
  const topLevel = spec.usageAt === 'topLevel' || spec.usageAt === 'both' ? spec.usage : undefined;
  const deltas = [...spec.reasoning.map((r) => ({ reasoning_content: r })), ...spec.content.map((c) => ({ content: c }))];
  const events = [chunk({ delta: { role: 'assistant', content: '' }, finish_reason: null })];
  const last = spec.finishInOwnChunk || !deltas.length ? undefined : deltas.pop();
  events.push(...deltas.map((delta) => chunk({ delta, finish_reason: null })));
  events.push(chunk({ delta: last ?? {}, finish_reason: 'stop', ...inChoice }, topLevel));
  if (spec.usageAt === 'ownChunk') events.push(chunk(undefined, spec.usage));
  return events;
}

/** The stream's text, with an extra `data:` line at `insertAt` when given. */
function sse(spec: StreamSpec, extra?: { at: number; data: string }): string {
  const data = payloads(spec);
  if (extra) data.splice(extra.at, 0, extra.data);
  const { eol } = spec;
  const lines = data.map((d, i) =>
    [...(spec.noise[i % spec.noise.length] ?? []).map((n) => n + eol), `data:${spec.space ? ' ' : ''}${d}${eol}${eol}`].join(''),
  );
  return lines.join('') + (spec.done ? `data: [DONE]${eol}${eol}` : '');
}

function split(bytes: Buffer, splits: number[] | 'every byte'): Buffer[] {
  const cuts =
    splits === 'every byte' ? Array.from(bytes.keys()) : [...new Set(splits.map((n) => n % (bytes.length + 1)))].sort((a, b) => a - b);
  const points = [...cuts.filter((c) => c > 0 && c < bytes.length), bytes.length];
  return points.map((end, i) => bytes.subarray(i === 0 ? 0 : points[i - 1], end));
}

function expectedUsage(spec: StreamSpec) {
  if (spec.usageAt === 'none') return undefined;
  const { prompt_tokens, completion_tokens, total_tokens, cached_tokens } = spec.usage;
  return {
    promptTokens: prompt_tokens,
    completionTokens: completion_tokens,
    totalTokens: total_tokens,
    ...(cached_tokens === undefined ? {} : { cachedTokens: cached_tokens }),
  };
}

/** A client whose fetch answers with exactly these chunks (chunk boundaries kept as given). */
function exactClient(chunks: Buffer[]): KimiClient {
  const fetch: typeof globalThis.fetch = async () => {
    let i = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (i < chunks.length) controller.enqueue(new Uint8Array(chunks[i++]));
        else controller.close();
      },
    });
    return new Response(body, { status: 200, headers: { 'content-type': 'text/event-stream; charset=utf-8' } });
  };
  return new KimiClient({ baseUrl: 'http://moonshot.invalid/v1', apiKey: async () => KEY, fetch, idleTimeoutMs: 2_000 });
}

const chat = (client: KimiClient): Promise<ChatResult> =>
  client.streamChat({ model: 'kimi-k2.6', messages: [{ role: 'user', content: 'hi' }], maxTokens: 100 }, {});

function assertSameAnswer(result: ChatResult, spec: StreamSpec): void {
  assert.equal(result.content, spec.content.join(''));
  assert.equal(result.reasoning, spec.reasoning.join(''));
  assert.deepEqual(result.usage, expectedUsage(spec));
  assert.equal(result.finishReason, 'stop');
}

describe('stream parsing (property)', function () {
  this.timeout(120_000);

  it(`reads the same answer however the stream is split into chunks, with noise between events (${RUNS.exactChunks} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(specArb, splitsArb, async (spec, splits) => {
        assertSameAnswer(await chat(exactClient(split(Buffer.from(sse(spec)), splits))), spec);
      }),
      { numRuns: RUNS.exactChunks },
    );
  });

  describe('over a real socket', () => {
    let server: http.Server;
    let pieces: Buffer[] = [];
    let baseUrl = '';
    before(async () => {
      server = http.createServer(async (req, res) => {
        req.resume();
        res.socket?.setNoDelay(true);
        res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
        for (const piece of pieces) {
          res.write(piece);
          await new Promise((resolve) => setImmediate(resolve)); // separate writes, separate segments
        }
        res.end();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
    });
    after(() => new Promise((resolve) => server.close(resolve)));

    it(`reads the same answer from a loopback server writing the pieces one by one (${RUNS.loopback} runs)`, async () => {
      const client = new KimiClient({ baseUrl, apiKey: async () => KEY, idleTimeoutMs: 2_000 });
      await fc.assert(
        fc.asyncProperty(specArb, splitsArb, async (spec, splits) => {
          pieces = split(Buffer.from(sse(spec)), splits);
          assertSameAnswer(await chat(client), spec);
        }),
        { numRuns: RUNS.loopback },
      );
    });
  });

  it(`fails as 'server' on a garbage data line anywhere before [DONE], never crashing or hanging (${RUNS.garbage} runs)`, async () => {
    const garbageArb = fc
      .oneof(
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.json({ maxDepth: 2 }),
        fc.constantFrom('[]', '[{"choices":[]}]', 'null', '{', '{"choices":[{"delta":'),
      )
      .filter((g) => !/[\r\n]/.test(g) && g.trim() !== '[DONE]' && !isJsonObject(g));
    await fc.assert(
      fc.asyncProperty(specArb, garbageArb, fc.nat(), splitsArb, async (spec, garbage, where, splits) => {
        const at = where % (payloads(spec).length + 1);
        const error = await kimiErrorFrom(chat(exactClient(split(Buffer.from(sse(spec, { at, data: garbage })), splits))));
        assert.equal(error.kind, 'server');
        assert.match(error.message, /malformed stream event/);
        const before = payloads(spec)
          .slice(0, at)
          .some((p) => /"(content|reasoning_content)":"[^"]/.test(p));
        assert.equal(error.streamed, before, 'streamed says whether part of the answer had arrived');
      }),
      { numRuns: RUNS.garbage },
    );
  });

  it(`a stream cut at any byte either completed its answer or fails as 'network' keeping a prefix of it (${RUNS.cut} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(specArb, fc.nat(), splitsArb, async (spec, cut, splits) => {
        const bytes = Buffer.from(sse(spec));
        const sent = bytes.subarray(0, cut % (bytes.length + 1));
        let result: ChatResult;
        try {
          result = await chat(exactClient(split(sent, splits)));
        } catch (error) {
          assert.ok(error instanceof KimiError, String(error));
          assert.equal(error.kind, 'network', `a cut is a broken connection, not a bad server: ${error.message}`);
          assert.ok(spec.content.join('').startsWith(error.partial?.content ?? ''));
          assert.ok(spec.reasoning.join('').startsWith(error.partial?.reasoning ?? ''));
          return;
        }
        assert.equal(result.content, spec.content.join(''));
        assert.equal(result.reasoning, spec.reasoning.join(''));
      }),
      { numRuns: RUNS.cut },
    );
  });
});

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
