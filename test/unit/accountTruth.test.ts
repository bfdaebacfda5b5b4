// The account's truth: every real refusal read to its kind, limit and number; a stated limit adopted
// by the budget at once; a refusal that states none still teaches; what cannot succeed is not retried;
// the tiers as presets; Kimi Code refused before anything leaves.
import * as assert from 'node:assert/strict';
import { MemoryAccountStore } from '../../src/core/account';
import { Budget, BudgetOptions } from '../../src/core/budget';
import { parseConfig } from '../../src/core/config';
import { LEARNED_FOR_MS, Limits, TIERS } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, SendRejected, SendSpec } from '../../src/core/sendQueue';
import { SendQueue } from '../../src/core/sendQueue';
import { KimiError } from '../../src/kimi';
import { errorFromResponse } from '../../src/kimi/kimiError';
import { kimiCodeProblem } from '../../src/kimi/kimiCode';
import { readRefusal } from '../../src/kimi/refusal';
import { retryAfterMs } from '../../src/kimi/retryAfter';
import { verdictFor } from '../../src/kimi/verdict';
import { summarize } from '../../src/ui/budgetSummary';
import { ManualClock } from '../support/manualClock';
import { REAL_REFUSALS, refusalFor } from '../support/moonshotRefusals';

const MINUTE = 60_000;
const OPTIONS: BudgetOptions = { windowMs: MINUTE, dayMs: 86_400_000, marginMs: 500 };
const limits = (l: Partial<Limits>): Limits => ({
  requestsPerMinute: 120,
  tokensPerMinute: 150_000,
  concurrency: 0,
  tokensPerDay: 0,
  ...l,
});
const headers = (h: Record<string, string>) => ({ get: (name: string) => h[name.toLowerCase()] ?? null });

describe('real refusals, read', () => {
  for (const real of REAL_REFUSALS)
    it(`${real.name} (${real.status}): ${real.expect.kind}${real.expect.limit ? `, ${real.expect.limit} ${real.expect.stated ?? ''}` : ''}`, () => {
      const error = errorFromResponse(real.status, JSON.stringify(real.body), undefined, 0);
      assert.equal(error.kind, real.expect.kind);
      const reading = readRefusal(real.body.error.message);
      assert.equal(reading.limit, real.expect.limit);
      assert.equal(reading.stated, real.expect.stated);
      assert.equal(reading.current, real.expect.current);
      if (real.expect.scope) assert.equal(reading.scope, real.expect.scope);
      assert.equal(error.retryAfterMs, real.expect.afterSeconds === undefined ? undefined : real.expect.afterSeconds * 1000);
      const verdict = verdictFor(error);
      const action = {
        rateLimited: real.expect.limit === 'tokensPerDay' ? 'waitForDay' : 'pause',
        overloaded: 'backoff',
        quotaExhausted: 'stop',
      }[real.expect.kind];
      assert.equal(verdict.action, action);
    });

  it('the wait is the later of Retry-After and the seconds the message states', () => {
    const message = refusalFor('requestsPerMinute', 3).error.message; // "…please try again after 1 seconds"
    assert.equal(retryAfterMs(headers({ 'retry-after': '1152' }), message, 0), 1_152_000);
    assert.equal(retryAfterMs(headers({ 'retry-after': '0' }), message, 0), 1_000);
    assert.equal(retryAfterMs(undefined, message, 0), 1_000);
  });

  it('words that name no number name no limit', () => {
    assert.deepEqual(readRefusal('Organization Rate limit exceeded, please try again after 1 seconds'), {});
    assert.deepEqual(readRefusal(undefined), {});
    assert.equal(readRefusal('max RPM: -3').stated, undefined);
    assert.equal(readRefusal('TPM rate limit, current: 99999999999999999999, limit: 5').current, undefined);
  });
});

/**
 * A send queue against a server of the given limits (a rolling minute, refused requests counted
 * too, as Moonshot counts them), speaking Moonshot's words. Returns what the server admitted.
 */
function serverAndQueue(
  server: {
    rpm?: number;
    concurrency?: number;
    /** Requests of another client the server counted a moment ago. */
    others?: number;
    message?: (limit: 'rpm' | 'concurrency') => { error: { message: string; type: string } };
  },
  settings: Partial<Limits>,
  /** As the extension runs it: one request at a time until the server has answered it, while concurrency is not known. */
  budgetOptions: Partial<BudgetOptions> = { probeConcurrency: true },
  answerMs = 100,
) {
  const clock = new ManualClock(10 * MINUTE);
  const store = new MemoryAccountStore(new Budget(limits(settings), clock, undefined, { ...OPTIONS, ...budgetOptions }), clock, 'w');
  const queue = new SendQueue<string>(
    store,
    clock,
    verdictFor,
    { ...DEFAULT_QUEUE_OPTIONS, maxLength: 100, maxWaitMs: 30 * MINUTE },
    () => 0.5,
  );
  const counted: number[] = Array.from({ length: server.others ?? 0 }, () => clock.now() - 1_000); // every request the server counted, refused or not
  const admitted: number[] = [];
  const refused: string[] = [];
  let inFlight = 0;
  const words =
    server.message ??
    ((limit) => (limit === 'rpm' ? refusalFor('requestsPerMinute', server.rpm!) : refusalFor('concurrency', server.concurrency!)));
  const spec = (label: string): SendSpec<string> => ({
    label,
    promptTokens: 100,
    maxTokens: 100,
    run: ({ serverAnswered }) =>
      new Promise((resolve, reject) =>
        // The request reaches the server 50 ms later; the server decides then, as it counts.
        clock.setTimer(50, () => {
          const now = clock.now();
          const minute = counted.filter((at) => at > now - MINUTE).length;
          const full =
            server.concurrency && inFlight >= server.concurrency ? 'concurrency' : server.rpm && minute >= server.rpm ? 'rpm' : undefined;
          counted.push(now);
          serverAnswered(!full);
          if (full) {
            const body = words(full);
            refused.push(body.error.message);
            reject(errorFromResponse(429, JSON.stringify(body), undefined, now));
            return;
          }
          admitted.push(now);
          inFlight++;
          clock.setTimer(answerMs, () => {
            inFlight--;
            resolve({ value: label });
          });
        }),
      ),
  });
  return { clock, store, queue, admitted, refused, send: (label: string) => queue.enqueue(spec(label)) };
}

/** The most admissions any minute holds. */
const busiest = (times: number[]) => Math.max(0, ...times.map((from) => times.filter((at) => at >= from && at < from + MINUTE).length));

describe('limits learned from refusals', () => {
  it('configured for 120 a minute, refused with "max RPM: 3": from then on at most 3 go out in any minute, all answered, one refusal', async () => {
    const h = serverAndQueue({ rpm: 3 }, { requestsPerMinute: 120 });
    const results = Array.from({ length: 10 }, (_, i) => h.send(`s${i}`).result);
    await h.clock.advance(5 * MINUTE);
    assert.deepEqual(
      await Promise.all(results),
      Array.from({ length: 10 }, (_, i) => `s${i}`),
    );
    assert.equal(h.refused.length, 1, h.refused.join('\n'));
    assert.ok(busiest(h.admitted) <= 3, `a minute held ${busiest(h.admitted)}`);
    const learned = h.store.snapshot().learned;
    assert.deepEqual(
      learned?.map((l) => [l.limit, l.value, l.scope]),
      [['requestsPerMinute', 3, 'organization']],
    );
    assert.equal(h.store.snapshot().limits.requestsPerMinute, 3);
    const tooltip = summarize({
      snapshot: h.store.snapshot(),
      entries: [],
      heldBy: undefined,
      refusal: undefined,
      now: h.clock.now(),
      model: 'kimi-k2.6',
      calibration: { ratio: 1, samples: 0 },
      sessionCostUsd: 0,
      sessionCostKnown: true,
    });
    assert.match(tooltip.label, /of 3 requests/);
    assert.match(tooltip.tooltip, /- requests per minute: 3, learned .* ago, from "Your account .* max RPM: 3/);
  });

  it('in the older words ("max request: 3"): the same', async () => {
    const h = serverAndQueue(
      {
        rpm: 3,
        message: () => ({
          error: {
            message: 'Your account u<ak-x> request reached max request: 3, please try again after 1 seconds',
            type: 'rate_limit_reached_error',
          },
        }),
      },
      {},
    );
    const results = Array.from({ length: 6 }, (_, i) => h.send(`s${i}`).result);
    await h.clock.advance(4 * MINUTE);
    await Promise.all(results);
    assert.equal(h.refused.length, 1);
    assert.ok(busiest(h.admitted) <= 3);
  });

  it('a refusal that names no limit: what the server had accepted that minute is the limit until proven otherwise; no retry goes into that minute', async () => {
    const h = serverAndQueue(
      {
        rpm: 2,
        message: () => ({
          error: { message: 'Organization Rate limit exceeded, please try again after 1 seconds', type: 'rate_limit_reached_error' },
        }),
      },
      {},
    );
    const results = Array.from({ length: 5 }, (_, i) => h.send(`s${i}`).result);
    await h.clock.advance(5 * MINUTE);
    await Promise.all(results);
    assert.equal(h.refused.length, 1, 'refused once, never again');
    assert.ok(busiest(h.admitted) <= 2);
    const [guess] = h.store.snapshot().learned ?? [];
    assert.deepEqual([guess.limit, guess.value, guess.guessed], ['requestsPerMinute', 2, true]);
  });

  it("a stated limit no lower than the budget's: someone else used the room, so the share is cut, not the limit", async () => {
    const h = serverAndQueue({ rpm: 3, others: 2 }, { requestsPerMinute: 3 });
    const results = ['a', 'b', 'c'].map((label) => h.send(label).result);
    await h.clock.advance(1_000);
    assert.equal(h.refused.length, 1);
    assert.equal(h.store.snapshot().learned, undefined, 'nothing learned: the server said what the budget already held');
    assert.ok(h.store.snapshot().shares.requestsPerMinute < 1, 'its share of the minute is cut instead');
    await h.clock.advance(4 * MINUTE);
    await Promise.all(results);
  });

  it('a learned limit lapses after its time, and "forget" lets it go at once', async () => {
    const h = serverAndQueue({ rpm: 3 }, {});
    h.store.learnLimit({ limit: 'requestsPerMinute', value: 3, at: h.clock.now(), evidence: 'max RPM: 3' });
    assert.equal(h.store.snapshot().limits.requestsPerMinute, 3);
    await h.clock.advance(LEARNED_FOR_MS + 1);
    assert.equal(h.store.snapshot().limits.requestsPerMinute, 120);
    assert.equal(h.store.limits.requestsPerMinute, 120);
    h.store.learnLimit({ limit: 'concurrency', value: 1, at: h.clock.now(), evidence: 'max organization concurrency: 1' });
    assert.equal(h.store.snapshot().limits.concurrency, 1, 'a learned limit replaces "no limit"');
    h.store.forgetLearned();
    assert.equal(h.store.snapshot().limits.concurrency, 0);
  });

  it('concurrency not known: a burst of six meets a server allowing one at a time once, learns it, and all are answered', async () => {
    const h = serverAndQueue({ concurrency: 1 }, { concurrency: 0 }, undefined, 2_000);
    const results = Array.from({ length: 6 }, (_, i) => h.send(`s${i}`).result);
    await h.clock.advance(2 * MINUTE);
    await Promise.all(results);
    assert.equal(h.refused.length, 1, h.refused.join('\n'));
    assert.match(h.refused[0], /max organization concurrency: 1/);
    assert.equal(h.store.snapshot().limits.concurrency, 1);
  });

  it('…where without the probe the same burst is refused five times', async () => {
    const h = serverAndQueue({ concurrency: 1 }, { concurrency: 0 }, { probeConcurrency: false }, 2_000);
    const results = Array.from({ length: 6 }, (_, i) => h.send(`s${i}`).result);
    await h.clock.advance(2 * MINUTE);
    await Promise.all(results);
    assert.equal(h.refused.length, 5);
  });
});

describe('a refusal no wait can cure', () => {
  it('the balance gone: the send fails, every waiting send fails with it, nothing is retried', async () => {
    const clock = new ManualClock(10 * MINUTE);
    const store = new MemoryAccountStore(new Budget(limits({ requestsPerMinute: 1 }), clock, undefined, OPTIONS), clock, 'w');
    const queue = new SendQueue<string>(store, clock, verdictFor, DEFAULT_QUEUE_OPTIONS, () => 0.5);
    const real = REAL_REFUSALS.find((r) => r.status === 403 && r.body.error.type === 'exceeded_current_quota_error')!;
    let attempts = 0;
    const spec = (label: string): SendSpec<string> => ({
      label,
      promptTokens: 10,
      maxTokens: 10,
      run: ({ serverAnswered }) => {
        attempts++;
        serverAnswered();
        return Promise.reject(errorFromResponse(403, JSON.stringify(real.body), undefined, clock.now()));
      },
    });
    const first = queue.enqueue(spec('a')).result;
    const waiting = [queue.enqueue(spec('b')).result, queue.enqueue(spec('c')).result];
    const outcomes = await Promise.allSettled([first, ...waiting]);
    // The line stays stopped for a minute: a send made meanwhile is not sent either…
    const during = (() => {
      try {
        queue.enqueue(spec('d'));
        return undefined;
      } catch (error) {
        return error;
      }
    })();
    assert.ok(during instanceof SendRejected && during.rejection.kind === 'accountStopped');
    assert.equal(during.rejection.kind === 'accountStopped' && during.rejection.resumesInMs! > 0, true);
    assert.equal(attempts, 1);
    await clock.advance(5 * MINUTE);
    assert.equal(attempts, 1, 'one request, never retried, nothing waiting sent');
    const [a, b, c] = outcomes.map((o) => (o.status === 'rejected' ? o.reason : o.value) as unknown);
    assert.ok(a instanceof KimiError && a.kind === 'quotaExhausted');
    assert.match(a.message, /exceeded current quota.*Top up/);
    for (const rejected of [b, c]) {
      assert.ok(rejected instanceof SendRejected);
      assert.equal(rejected.rejection.kind, 'accountStopped');
    }
    // …unless the key or the base URL changed.
    queue.resume();
    void queue.enqueue(spec('e')).result.catch(() => undefined);
    await clock.advance(0);
    assert.equal(attempts, 2);
  });
});

describe('tiers', () => {
  it('a tier gives every limit not set; a limit set wins; nothing set: the defaults', () => {
    const parse = (values: Record<string, unknown>) => parseConfig((key) => values[key]).config;
    assert.deepEqual(parse({ 'limits.tier': 'tier0' }).limits, TIERS.tier0);
    assert.deepEqual(parse({ 'limits.tier': 'tier1', 'limits.requestsPerMinute': 150 }).limits, { ...TIERS.tier1, requestsPerMinute: 150 });
    assert.deepEqual(parse({}).limits, { requestsPerMinute: 120, tokensPerMinute: 150_000, concurrency: 0, tokensPerDay: 0 });
    assert.equal(parse({}).tier, undefined);
    assert.equal(parse({ 'limits.tier': 'learn' }).tier, 'learn');
    assert.deepEqual(parse({ 'limits.tier': 'learn' }).limits.requestsPerMinute, 120);
  });

  it('a value that is no tier is said, and the limits of the settings apply', () => {
    const { config, problems } = parseConfig((key) => ({ 'limits.tier': 'Tier 9' })[key]);
    assert.equal(config.tier, undefined);
    assert.deepEqual(
      problems.map((p) => [p.key, p.expected.kind]),
      [['limits.tier', 'tier']],
    );
  });

  it('only a limit the user set overrides the tier (a default given back by the settings does not)', () => {
    const values: Record<string, unknown> = { 'limits.tier': 'tier2', 'limits.requestsPerMinute': 120, 'limits.concurrency': 7 };
    const { config } = parseConfig(
      (key) => values[key],
      (key) => key === 'limits.concurrency',
    );
    assert.deepEqual(config.limits, { ...TIERS.tier2, concurrency: 7 });
  });
});

describe('Kimi Code', () => {
  it('its base URL, or one of its keys on the platform, is refused before anything leaves, saying what to use', () => {
    assert.match(kimiCodeProblem('https://api.kimi.com/coding/v1', 'sk-kimi-abc')!, /Kimi Code.*Nothing was sent.*api\.moonshot\.ai/);
    assert.match(kimiCodeProblem('https://api.moonshot.ai/v1', 'sk-kimi-abc')!, /Kimi Code key.*Nothing was sent.*Set API Key/);
    assert.equal(kimiCodeProblem('https://api.moonshot.ai/v1', 'sk-abc'), undefined);
    assert.equal(kimiCodeProblem('http://127.0.0.1:8080/v1', 'sk-test-key'), undefined);
    assert.ok(!kimiCodeProblem('https://api.moonshot.ai/v1', 'sk-kimi-secret')!.includes('secret'), 'the key is not in the words');
  });
});
