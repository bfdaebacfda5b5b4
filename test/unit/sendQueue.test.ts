import * as assert from 'node:assert/strict';
import { Budget } from '../../src/core/budget';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, QueueOptions, SendQueue, SendRejected, SendSpec, Verdict } from '../../src/core/sendQueue';
import { ManualClock, settle } from '../support/manualClock';

const SPAN = 61_000; // one window plus the margin
const limits = (l: Partial<Limits> = {}): Limits => ({
  requestsPerMinute: 120,
  tokensPerMinute: 10_000_000,
  concurrency: 0,
  tokensPerDay: 0,
  ...l,
});

class RateLimited extends Error {
  constructor(
    readonly afterMs?: number,
    /** The limit the server named, when it named one. */
    readonly limit?: 'requestsPerMinute' | 'tokensPerMinute' | 'concurrency',
  ) {
    super('rate limited');
  }
}
class Overloaded extends Error {}
const classify = (error: unknown): Verdict =>
  error instanceof RateLimited
    ? { action: 'pause', afterMs: error.afterMs, limit: error.limit, evidence: 'max RPM reached' }
    : error instanceof Overloaded
      ? { action: 'backoff', evidence: 'engine overloaded' }
      : { action: 'fail' };

/** A queue over a manual clock whose sends take `durationMs` of clock time and can be told to fail. */
function harness(l: Partial<Limits>, opts: Partial<QueueOptions> = {}, durationMs = 0) {
  const clock = new ManualClock();
  const budget = new Budget(limits(l), clock, undefined, { windowMs: 60_000, dayMs: 86_400_000, marginMs: 1_000 });
  const queue = new SendQueue<string>(budget, clock, classify, { ...DEFAULT_QUEUE_OPTIONS, maxLength: 1_000, ...opts }, () => 0);
  const started: { label: string; at: number; attempt: number }[] = [];
  const failures: Error[] = [];
  const signals: AbortSignal[] = [];
  let serverPromptTokens: number | undefined;
  const spec = (label: string, promptTokens = 100, maxTokens = 100): SendSpec<string> => ({
    label,
    promptTokens,
    maxTokens,
    run: ({ signal, number: attempt, sending }) => {
      started.push({ label, at: clock.now(), attempt });
      sending();
      signals.push(signal);
      const failure = failures.shift();
      if (failure) return Promise.reject(failure);
      return new Promise((resolve, reject) => {
        const cancelTimer = clock.setTimer(durationMs, () => resolve({ value: `answer to ${label}`, promptTokens: serverPromptTokens }));
        signal.addEventListener('abort', () => {
          cancelTimer();
          reject(new Error('aborted'));
        });
      });
    },
  });
  return {
    clock,
    budget,
    queue,
    started,
    failures,
    signals,
    spec,
    setServerPromptTokens: (n: number) => (serverPromptTokens = n),
    send: (label: string, promptTokens?: number, maxTokens?: number) => queue.enqueue(spec(label, promptTokens, maxTokens)),
  };
}

describe('SendQueue', () => {
  it('200 sends under 120 RPM: exactly 120 go at once and the rest as units come back', async () => {
    const h = harness({ requestsPerMinute: 120 });
    const t0 = h.clock.now();
    const tickets = Array.from({ length: 200 }, (_, i) => h.send(`p${i}`));
    await h.clock.advance(SPAN - 1);
    assert.equal(h.started.length, 120);
    assert.ok(h.started.every((s) => s.at === t0));
    await h.clock.advance(1);
    assert.equal(h.started.length, 200);
    assert.ok(h.started.slice(120).every((s) => s.at === t0 + SPAN));
    assert.deepEqual(
      h.started.map((s) => s.label),
      tickets.map((_, i) => `p${i}`),
      'FIFO order',
    );
    assert.equal((await Promise.all(tickets.map((t) => t.result))).length, 200);
  });

  it('a TPM-bound mix goes out as tokens return, in order, never above the limit in any window', async () => {
    const h = harness({ tokensPerMinute: 10_000 });
    const sizes = [3_000, 6_000, 2_000, 5_000, 4_000, 1_000, 7_000];
    sizes.forEach((size, i) => h.send(`s${i}`, size - 500, 500));
    await h.clock.advance(5 * SPAN);
    assert.equal(h.started.length, sizes.length);
    for (const s of h.started) {
      const inWindow = h.started.filter((o) => o.at > s.at - SPAN && o.at <= s.at);
      const tokens = inWindow.reduce((sum, o) => sum + sizes[Number(o.label.slice(1))], 0);
      assert.ok(tokens <= 10_000, `window ending ${s.at} holds ${tokens} tokens`);
    }
    // The first two fill 9,000; the third (2,000) must wait for the first 3,000 to come back.
    assert.deepEqual(
      h.started.slice(0, 3).map((s) => s.at - h.started[0].at),
      [0, 0, SPAN],
    );
  });

  it('concurrency 1 runs sends one after another, each starting when the previous ends', async () => {
    const h = harness({ concurrency: 1 }, {}, 2_000);
    const t0 = h.clock.now();
    for (let i = 0; i < 3; i++) h.send(`c${i}`);
    await h.clock.advance(10_000);
    assert.deepEqual(
      h.started.map((s) => s.at - t0),
      [0, 2_000, 4_000],
    );
    assert.equal(h.budget.snapshot().inFlight, 0);
  });

  it('tokens per day hold sends once the day is spent', async () => {
    const h = harness({ tokensPerMinute: 1_000, tokensPerDay: 2_000 }, { maxWaitMs: 2 * 86_400_000 });
    const t0 = h.clock.now();
    for (let i = 0; i < 3; i++) h.send(`d${i}`, 500, 500);
    await h.clock.advance(10 * SPAN);
    assert.equal(h.started.length, 2);
    assert.equal(h.queue.headHeldBy, 'tokensPerDay');
    await h.clock.advance(86_400_000);
    assert.deepEqual(
      h.started.map((s) => s.at - t0),
      [0, SPAN, 86_401_000],
    );
  });

  it('settles the prompt part from the server count: a lower count lets the next send out sooner', async () => {
    const h = harness({ tokensPerMinute: 2_500 });
    h.setServerPromptTokens(400); // the local estimate said 1,000
    h.send('a', 1_000, 200);
    h.send('b', 1_000, 200);
    h.send('c', 900, 200);
    await h.clock.advance(0);
    assert.equal(h.started.length, 3, '1,200 + 600 settled + 1,100 would be 2,900 unsettled');
    assert.equal(h.budget.snapshot().tokensUsed, 600 * 3);
  });

  it('refuses at once, with the numbers, a send that can never fit a limit or the context window', () => {
    const h = harness({ tokensPerMinute: 5_000 });
    assert.throws(
      () => h.send('big', 4_800, 400),
      (e: SendRejected) =>
        assert.deepEqual(e.rejection, {
          kind: 'impossible',
          limit: 'tokensPerMinute',
          tokens: 5_200,
          capacity: 5_000,
          promptTokens: 4_800,
          maxTokens: 400,
          underNewLimits: false,
        }) ?? true,
    );
    assert.throws(
      () => h.queue.enqueue({ ...h.spec('ctx', 3_000, 1_000), contextWindow: 3_500 }),
      (e: SendRejected) =>
        assert.deepEqual(e.rejection, {
          kind: 'impossible',
          limit: 'contextWindow',
          tokens: 4_000,
          capacity: 3_500,
          promptTokens: 3_000,
          maxTokens: 1_000,
          underNewLimits: false,
        }) ?? true,
    );
    assert.equal(h.queue.waitingCount, 0);
    assert.equal(h.started.length, 0);
  });

  it('cancelling a waiting send removes it cleanly and the others keep their order', async () => {
    const h = harness({ requestsPerMinute: 1 });
    h.send('a');
    const b = h.send('b');
    h.send('c');
    h.queue.cancel(b.id);
    await assert.rejects(b.result, (e: SendRejected) => e.reason === 'cancelled');
    await h.clock.advance(SPAN);
    assert.deepEqual(
      h.started.map((s) => [s.label, s.at - h.started[0].at]),
      [
        ['a', 0],
        ['c', SPAN],
      ],
      'b took no unit',
    );
  });

  it('cancelling a running send aborts it, frees its slot and keeps its units spent', async () => {
    const h = harness({ concurrency: 1 }, {}, 30_000);
    const a = h.send('a');
    h.send('b');
    await h.clock.advance(1_000);
    h.queue.cancel(a.id);
    assert.equal(h.signals[0].aborted, true);
    await assert.rejects(a.result, (e: SendRejected) => e.reason === 'cancelled');
    await h.clock.advance(0);
    assert.deepEqual(
      h.started.map((s) => s.label),
      ['a', 'b'],
    );
    assert.equal(h.budget.snapshot().requestsUsed, 2);
  });

  it('lowered limits hold waiting sends; raised limits release them at once; an impossible one fails', async () => {
    const h = harness({ requestsPerMinute: 10, tokensPerMinute: 100_000 });
    h.budget.setLimits(limits({ requestsPerMinute: 2, tokensPerMinute: 100_000 }));
    h.queue.replan();
    for (let i = 0; i < 4; i++) h.send(`r${i}`);
    const huge = h.send('huge', 20_000, 1_000);
    await h.clock.advance(1_000);
    assert.equal(h.started.length, 2);
    h.budget.setLimits(limits({ requestsPerMinute: 10, tokensPerMinute: 10_000 }));
    h.queue.replan();
    await assert.rejects(
      huge.result,
      (e: SendRejected) =>
        e.rejection.kind === 'impossible' && e.rejection.underNewLimits && e.rejection.tokens === 21_000 && e.rejection.capacity === 10_000,
    );
    await h.clock.advance(0);
    assert.deepEqual(
      h.started.map((s) => s.label),
      ['r0', 'r1', 'r2', 'r3'],
    );
    assert.equal(h.queue.waitingCount, 0);
  });

  it('an attempt that fails before its request leaves gives its units back; one that fails after keeps them spent', async () => {
    const h = harness({ requestsPerMinute: 2, tokensPerMinute: 10_000 });
    const failing = (label: string, leaves: boolean): SendSpec<string> => ({
      ...h.spec(label),
      run: ({ sending }) =>
        new Promise((_, reject) =>
          h.clock.setTimer(500, () => {
            if (leaves) sending();
            reject(new Error(leaves ? 'the connection dropped' : 'the answer view could not open'));
          }),
        ),
    });
    const unsent = h.queue.enqueue(failing('unsent', false));
    const sent = h.queue.enqueue(failing('sent', true));
    assert.deepEqual([h.budget.snapshot().requestsUsed, h.budget.snapshot().tokensUsed], [2, 400], 'both admitted');
    await h.clock.advance(500);
    await assert.rejects(unsent.result, /view could not open/);
    await assert.rejects(sent.result, /connection dropped/);
    const after = h.budget.snapshot();
    assert.deepEqual([after.requestsUsed, after.tokensUsed, after.inFlight], [1, 200, 0], 'only the send that left stays spent');
    h.send('next');
    await h.clock.advance(0);
    assert.deepEqual(
      h.started.map((s) => [s.label, s.at - h.clock.now()]),
      [['next', 0]],
      'the unit given back is used at once',
    );
  });

  it('cancelling an admitted send before its request leaves gives its units back, and says so', async () => {
    const h = harness({ requestsPerMinute: 1 });
    const slowToLeave: SendSpec<string> = {
      ...h.spec('slow to leave'),
      run: ({ signal, sending }) =>
        new Promise((resolve, reject) => {
          const stop = h.clock.setTimer(2_000, () => (sending(), resolve({ value: 'never' })));
          signal.addEventListener('abort', () => (stop(), reject(new Error('aborted'))));
        }),
    };
    const a = h.queue.enqueue(slowToLeave);
    h.send('b');
    await h.clock.advance(1_000);
    assert.equal(h.budget.snapshot().requestsUsed, 1);
    assert.equal(h.started.length, 0, 'b waits for the unit a holds');
    h.queue.cancel(a.id);
    await assert.rejects(
      a.result,
      (e: SendRejected) => assert.deepEqual(e.rejection, { kind: 'cancelled', when: 'beforeSending' }) ?? true,
    );
    await h.clock.advance(0);
    assert.deepEqual(
      h.started.map((s) => s.label),
      ['b'],
      'b takes the unit a gave back, at once',
    );
  });

  it('a 429 pauses all dispatch for the stated time and retries that send first, through the budget', async () => {
    const h = harness({ requestsPerMinute: 100 });
    h.failures.push(new RateLimited(5_000, 'requestsPerMinute'));
    const t0 = h.clock.now();
    const a = h.send('a');
    await h.clock.advance(0);
    h.send('b');
    assert.equal(h.queue.headHeldBy, 'serverPause');
    assert.equal(h.queue.refusal?.until, t0 + 5_000);
    await h.clock.advance(4_999);
    assert.equal(h.started.length, 1);
    await h.clock.advance(1);
    assert.deepEqual(
      h.started.map((s) => [s.label, s.at - t0, s.attempt]),
      [
        ['a', 0, 1],
        ['a', 5_000, 2],
        ['b', 5_000, 1],
      ],
    );
    assert.equal(await a.result, 'answer to a');
    assert.equal(h.budget.snapshot().requestsUsed, 3, 'the refused attempt stays spent');
  });

  it('a refusal for a limit its own count had room for: the queue then keeps to the share it held, one minute and the next', async () => {
    const h = harness({ requestsPerMinute: 4 });
    const t0 = h.clock.now();
    h.send('a');
    h.send('b');
    await h.clock.advance(0);
    // Another client on the account has the other two requests of this minute: the server refuses c.
    h.failures.push(new RateLimited(1_000, 'requestsPerMinute'));
    h.send('c');
    await h.clock.advance(0);
    assert.equal(h.budget.snapshot().shares.requestsPerMinute, 0.75, "it held 3 of 4 when refused (c's refused request counts)");
    for (const label of ['d', 'e', 'f', 'g']) h.send(label);
    await h.clock.advance(2 * SPAN);
    // Had it not learned, c's retry would go after the pause and d, e, f one minute later: 4 in a minute.
    const starts = h.started.map((s) => s.at);
    const busiest = Math.max(...starts.map((from) => starts.filter((at) => at >= from && at < from + SPAN).length));
    assert.equal(
      busiest,
      3,
      `never more than 3 a minute while it keeps to three quarters: ${JSON.stringify(h.started.map((s) => [s.label, s.at - t0]))}`,
    );
    assert.equal(h.started.length, 8, 'all sent in the end');
  });

  it('a send the server answered late keeps its units until one window after the answer', async () => {
    const h = harness({ requestsPerMinute: 1 });
    const t0 = h.clock.now();
    h.queue.enqueue({
      ...h.spec('slow'),
      run: ({ serverAnswered }) =>
        new Promise((resolve) =>
          h.clock.setTimer(4_000, () => {
            serverAnswered();
            resolve({ value: 'late' });
          }),
        ),
    });
    h.send('next');
    await h.clock.advance(SPAN);
    assert.equal(h.started.length, 0, 'the slow send took its unit when the server answered, 4 s in');
    await h.clock.advance(4_000);
    assert.deepEqual(
      h.started.map((s) => [s.label, s.at - t0]),
      [['next', 4_000 + SPAN]],
    );
  });

  it('overload backs off exponentially, each wait jittered between half and all of its step, and gives up after the last attempt', async () => {
    // With random() = 0.999 every wait is nearly its whole step: 1 s, then 2 s.
    const clock = new ManualClock();
    const budget = new Budget(limits(), clock);
    const failing = new SendQueue<string>(
      budget,
      clock,
      classify,
      { ...DEFAULT_QUEUE_OPTIONS, maxAttempts: 3, backoffBaseMs: 1_000 },
      () => 0.999,
    );
    const starts: number[] = [];
    const late = failing.enqueue({
      label: 'a',
      promptTokens: 1,
      maxTokens: 1,
      run: () => (starts.push(clock.now()), Promise.reject(new Overloaded())),
    });
    const lateOutcome = assert.rejects(late.result, Overloaded);
    await clock.advance(10_000);
    await lateOutcome;
    assert.deepEqual(
      starts.map((at) => Math.round(at - starts[0])),
      [0, 1_000, 2_999], // 999.5 ms, then 1,999 ms
    );
    const h = harness({}, { maxAttempts: 3, backoffBaseMs: 1_000 });
    h.failures.push(new Overloaded(), new Overloaded(), new Overloaded());
    const t0 = h.clock.now();
    const a = h.send('a');
    const outcome = assert.rejects(a.result, Overloaded);
    await h.clock.advance(10_000);
    await outcome;
    // random() = 0: half of 1 s, then half of 2 s: the step doubles, the wait never below its half.
    assert.deepEqual(
      h.started.map((s) => s.at - t0),
      [0, 500, 1_500],
    );
  });

  it('does not retry what the verdict says to fail (quota, bad request, auth)', async () => {
    const h = harness({});
    h.failures.push(new Error('quota exhausted'));
    const a = h.send('a');
    await assert.rejects(a.result, /quota exhausted/);
    await h.clock.advance(10_000);
    assert.equal(h.started.length, 1);
  });

  it('refuses beyond the maximum length, or a wait beyond the maximum, and times out a long wait', async () => {
    const h = harness({ requestsPerMinute: 1 }, { maxLength: 2, maxWaitMs: 100_000 });
    h.send('a');
    const b = h.send('b');
    assert.throws(
      () => h.send('c'),
      (e: SendRejected) => assert.deepEqual(e.rejection, { kind: 'waitTooLong', waitMs: 2 * SPAN, maxWaitMs: 100_000 }) ?? true,
    );
    const full = harness({ requestsPerMinute: 1 }, { maxLength: 1 });
    full.send('a');
    full.send('b');
    assert.throws(
      () => full.send('c'),
      (e: SendRejected) => assert.deepEqual(e.rejection, { kind: 'queueFull', waiting: 1, maxLength: 1 }) ?? true,
    );
    // A 429 pause pushes b past its maximum wait (it was queued at t0): it fails at t0 + 100 s.
    const t0 = h.clock.now();
    h.failures.push(new RateLimited(200_000));
    const timedOut = assert.rejects(
      b.result,
      (e: SendRejected) => assert.deepEqual(e.rejection, { kind: 'timedOut', waitedMs: 100_000, maxWaitMs: 100_000 }) ?? true,
    );
    await h.clock.advance(SPAN);
    assert.deepEqual(
      h.started.map((s) => s.label),
      ['a', 'b'],
    );
    await h.clock.advance(100_000 - SPAN - 1);
    assert.equal(h.queue.waitingCount, 1);
    await h.clock.advance(1);
    await timedOut;
    assert.equal(h.clock.now() - t0, 100_000);
    assert.equal(h.queue.waitingCount, 0);
  });

  it('keeps a single timer however many sends wait, and none when nothing waits', async () => {
    const h = harness({ requestsPerMinute: 5 });
    for (let i = 0; i < 50; i++) h.send(`t${i}`);
    await h.clock.advance(0); // lets the five running sends finish
    assert.equal(h.clock.pendingTimers, 1);
    await h.clock.advance(15 * SPAN);
    assert.equal(h.started.length, 50);
    assert.equal(h.clock.pendingTimers, 0);
  });

  it('gives each waiting send an ETA and says when it depends on a running send', async () => {
    const h = harness({ requestsPerMinute: 1 });
    const t0 = h.clock.now();
    for (let i = 0; i < 3; i++) h.send(`e${i}`);
    await settle();
    assert.deepEqual(
      h.queue.entries().map((e) => [e.label, e.state, e.eta]),
      [
        ['e0', 'running', undefined],
        ['e1', 'waiting', t0 + SPAN],
        ['e2', 'waiting', t0 + 2 * SPAN],
      ],
    );
    const serial = harness({ concurrency: 1 }, {}, 5_000);
    serial.send('a');
    serial.send('b');
    assert.deepEqual(
      serial.queue.entries().map((e) => [e.label, e.state, e.eta]),
      [
        ['a', 'running', undefined],
        ['b', 'waiting', undefined],
      ],
    );
  });
});
