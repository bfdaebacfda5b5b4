// The error mapping under random answers: any status, error type, message, body and wait header
// must give a KimiError of a known kind, a usable wait or none, a verdict that fits the kind, and
// never the API key, whatever the server echoes.
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { priceOf } from '../../src/core/cost';
import { KimiClient, KimiError } from '../../src/kimi';
import { KIMI_ERROR_KINDS, KIND_BY_TYPE, kindFor } from '../../src/kimi/kimiError';
import { contextWindowOf } from '../../src/kimi/models';
import { verdictFor } from '../../src/kimi/verdict';
import { saysOverloaded } from '../../src/kimi/refusal';
import { kimiErrorFrom } from '../support/failures';

const RUNS = 1_000;
const KEY = 'sk-prop-errors-9f8e7d6c5b4a3928';
const DAY_MS = 86_400_000;
const NOW = Date.parse('2026-03-14T12:00:00Z');
/** Moonshot's error types; what each means is spelled out type by type in kimiClient.test.ts. */
const MOONSHOT_TYPES = Object.keys(KIND_BY_TYPE);

/** Printable ASCII: what a header value can carry. */
const headerText = fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)), maxLength: 30 });
const waitHeader = fc.oneof(
  fc.nat(100_000).map(String),
  fc.double({ min: -1e6, max: 1e12, noNaN: true }).map(String),
  fc.date({ min: new Date(NOW - DAY_MS), max: new Date(NOW + 2 * DAY_MS), noInvalidDate: true }).map((d) => d.toUTCString()),
  fc.constantFrom(
    '-1',
    '1e309',
    'Infinity',
    'NaN',
    '',
    '  7  ',
    '1m30s',
    '250ms',
    '0x10',
    '99999999999999',
    'Wed, 31 Feb 2026 99:99:99 GMT',
  ),
  headerText,
);
const text = fc.oneof(
  fc.string({ maxLength: 60 }),
  fc.constantFrom(
    'please try again after 3 seconds',
    'TPD rate limit, current: 1526210, limit: 1500000',
    'TPD rate limit, current: 5, limit: 9',
    `key ${KEY} refused`,
  ),
);
/** Sometimes the server echoes the key: in the message, the type, anywhere in the body. */
const withKey = (arb: fc.Arbitrary<string>) =>
  fc.oneof({ weight: 4, arbitrary: arb }, { weight: 1, arbitrary: arb.map((s) => `${s}${KEY}`) });
const body = fc.oneof(
  fc
    .record({
      type: fc.option(
        withKey(fc.oneof(fc.constantFrom(...MOONSHOT_TYPES, 'toString', '__proto__', 'constructor'), fc.string({ maxLength: 20 }))),
        { nil: undefined },
      ),
      message: fc.option(withKey(text), { nil: undefined }),
      code: fc.option(fc.oneof(fc.string({ maxLength: 10 }), fc.integer()), { nil: undefined }),
    })
    .map((error) => JSON.stringify({ error })),
  withKey(fc.string({ maxLength: 200 })), // not JSON at all: a proxy's page, an empty body
  fc.constantFrom(
    '{"error":null}',
    '{"error":"flat string"}',
    '{"error":{"message":42}}',
    '[]',
    'null',
    '<html><h1>502 Bad Gateway</h1></html>',
  ),
);
const status = fc.oneof(fc.integer({ min: 400, max: 599 }), fc.constantFrom(300, 301, 302, 429, 500, 503));
const headers = fc.record(
  { 'retry-after': waitHeader, 'retry-after-ms': waitHeader, 'x-ratelimit-reset': waitHeader },
  { requiredKeys: [] },
);

function assertKeyless(error: KimiError, logs: string[]): void {
  const texts = [
    error.message,
    String(error),
    error.stack ?? '',
    JSON.stringify(error),
    error.serverMessage ?? '',
    error.type ?? '',
    ...logs,
  ];
  for (const t of texts) assert.ok(!t.includes(KEY), `the key leaked into: ${t.slice(0, 200)}`);
}

function assertUsable(error: unknown, logs: string[]): asserts error is KimiError {
  assert.ok(error instanceof KimiError, `a KimiError, not ${String(error)}`);
  assert.ok(KIMI_ERROR_KINDS.includes(error.kind), error.kind);
  assert.ok(error.message.length > 0);
  const wait = error.retryAfterMs;
  assert.ok(wait === undefined || (Number.isFinite(wait) && wait >= 0 && wait <= DAY_MS), `retryAfterMs ${wait}`);
  assertKeyless(error, logs);
  // The type decides before the status (but for an overload typed as a rate error, which the words tell).
  if (error.type !== undefined && Object.hasOwn(KIND_BY_TYPE, error.type) && !saysOverloaded(error.serverMessage))
    assert.equal(error.kind, KIND_BY_TYPE[error.type]);
  // The verdict fits the kind: never retry what retrying cannot fix; waits are usable numbers.
  const verdict = verdictFor(error);
  const expected =
    error.kind === 'rateLimited'
      ? ['pause', 'waitForDay']
      : error.kind === 'overloaded' || error.kind === 'server'
        ? ['backoff']
        : error.kind === 'quotaExhausted'
          ? ['stop']
          : ['fail'];
  assert.ok(expected.includes(verdict.action), `${error.kind} → ${verdict.action}`);
  if ('afterMs' in verdict && verdict.afterMs !== undefined) assert.ok(Number.isFinite(verdict.afterMs) && verdict.afterMs >= 0);
  if (verdict.action === 'waitForDay' && verdict.excessTokens !== undefined)
    assert.ok(Number.isSafeInteger(verdict.excessTokens) && verdict.excessTokens > 0);
}

/** The error the client makes of `response`, which must not be taken for an answer, and what it logged. */
async function answerWith(response: () => Response): Promise<{ error: KimiError; logs: string[] }> {
  const logs: string[] = [];
  const client = new KimiClient({
    baseUrl: 'http://moonshot.invalid/v1',
    apiKey: async () => KEY,
    fetch: async () => response(),
    now: () => NOW,
    log: (l) => logs.push(l),
  });
  const error = await kimiErrorFrom(
    client.streamChat({ model: 'kimi-k2.6', messages: [{ role: 'user', content: 'hi' }], maxTokens: 10 }, {}),
  );
  return { error, logs };
}

describe('error mapping (property)', function () {
  this.timeout(60_000);

  it(`maps any error status, type, message and wait header to a known kind, a usable wait, a fitting verdict, no key (${RUNS} runs)`, async () => {
    // For example, Moonshot's three 429s: wait, back off, give up.
    assert.equal(kindFor(429, 'rate_limit_reached_error'), 'rateLimited');
    assert.equal(kindFor(429, 'engine_overloaded_error'), 'overloaded');
    assert.equal(kindFor(429, 'exceeded_current_quota_error'), 'quotaExhausted');
    await fc.assert(
      fc.asyncProperty(status, body, headers, async (code, text, extra) => {
        const { error, logs } = await answerWith(
          () => new Response(text, { status: code, headers: { 'content-type': 'application/json', ...extra } }),
        );
        assertUsable(error, logs);
        if (code === 429 && error.type === undefined) assert.equal(error.kind, 'rateLimited', 'an untyped 429 still means slow down');
      }),
      { numRuns: RUNS },
    );
  });

  it(`maps an error object inside a 200 body (JSON or a stream event) the same way (${RUNS / 2} runs)`, async () => {
    const errorBody = fc.record({
      type: fc.option(fc.constantFrom(...MOONSHOT_TYPES), { nil: undefined }),
      message: fc.option(withKey(text), { nil: undefined }),
    });
    await fc.assert(
      fc.asyncProperty(errorBody, fc.boolean(), async (error, asStream) => {
        const payload = JSON.stringify({ error });
        const response = asStream
          ? () => new Response(`data: ${payload}\n\n`, { status: 200, headers: { 'content-type': 'text/event-stream' } })
          : () => new Response(payload, { status: 200, headers: { 'content-type': 'application/json' } });
        const { error: thrown, logs } = await answerWith(response);
        assertUsable(thrown, logs);
        assert.equal(thrown.kind, error.type === undefined ? 'server' : KIND_BY_TYPE[error.type]);
      }),
      { numRuns: RUNS / 2 },
    );
  });

  it(`looks names from outside (an error type, a model id) up as data, never as Object.prototype members (${RUNS} runs)`, () => {
    const name = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.constantFrom('toString', '__proto__', 'constructor', 'hasOwnProperty', 'valueOf', 'kimi-k2.6'),
    );
    fc.assert(
      fc.property(name, fc.option(fc.integer({ min: 100, max: 599 }), { nil: undefined }), (id, code) => {
        assert.ok(KIMI_ERROR_KINDS.includes(kindFor(code, id)));
        const window = contextWindowOf(id);
        assert.ok(window === undefined || Number.isInteger(window));
        const price = priceOf(id, {});
        assert.ok(price === undefined || [price.input, price.cachedInput, price.output].every(Number.isFinite));
      }),
      { numRuns: RUNS },
    );
  });
});
