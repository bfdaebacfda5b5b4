import * as assert from 'node:assert/strict';
import { Budget } from '../../src/core/budget';
import { MemoryLedger } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { ManualClock } from '../support/manualClock';

const WINDOW = 60_000;
const MARGIN = 1_000;
const options = { windowMs: WINDOW, dayMs: 86_400_000, marginMs: MARGIN };
const limits = (l: Partial<Limits> = {}): Limits => ({
  requestsPerMinute: 120,
  tokensPerMinute: 150_000,
  concurrency: 0,
  tokensPerDay: 0,
  ...l,
});

describe('Budget', () => {
  let clock: ManualClock;
  beforeEach(() => (clock = new ManualClock()));

  it('admits a fresh burst of the whole minute at once, then waits for the first unit to come back', () => {
    const budget = new Budget(limits({ requestsPerMinute: 3 }), clock, undefined, options);
    for (let i = 0; i < 3; i++) {
      assert.equal(budget.waitFor(10).ms, 0);
      budget.admit(10);
    }
    assert.deepEqual(budget.waitFor(10), { ms: WINDOW + MARGIN, limit: 'requestsPerMinute' });
  });

  it('returns each unit one window plus the margin after it was spent, not all at once', async () => {
    const budget = new Budget(limits({ requestsPerMinute: 2 }), clock, undefined, options);
    budget.admit(1);
    await clock.advance(10_000);
    budget.admit(1);
    await clock.advance(WINDOW + MARGIN - 10_000 - 1);
    assert.equal(budget.waitFor(1).ms, 1);
    await clock.advance(1);
    assert.equal(budget.waitFor(1).ms, 0);
    budget.admit(1);
    assert.deepEqual(budget.waitFor(1), { ms: 10_000, limit: 'requestsPerMinute' });
  });

  it('charges prompt + max_tokens against tokens per minute and waits for enough tokens to return', async () => {
    const budget = new Budget(limits({ tokensPerMinute: 100_000 }), clock, undefined, options);
    budget.admit(40_000);
    await clock.advance(5_000);
    budget.admit(40_000);
    assert.equal(budget.waitFor(20_000).ms, 0);
    // 30,000 more needs the first 40,000 back (spent 5 s before the second).
    assert.deepEqual(budget.waitFor(30_000), { ms: WINDOW + MARGIN - 5_000, limit: 'tokensPerMinute' });
  });

  it('a settle corrects the recorded tokens, freeing or taking room at once', () => {
    const budget = new Budget(limits({ tokensPerMinute: 10_000 }), clock, undefined, options);
    const admission = budget.admit(9_000);
    assert.equal(budget.waitFor(2_000).limit, 'tokensPerMinute');
    budget.settle(admission, 7_000);
    assert.equal(budget.waitFor(2_000).ms, 0);
    assert.equal(budget.snapshot().tokensUsed, 7_000);
  });

  it('a confirmed spend comes back one window after the server answered, not after it was sent', async () => {
    const budget = new Budget(limits({ requestsPerMinute: 2 }), clock, undefined, options);
    const t0 = clock.now();
    const slow = budget.admit(1);
    await clock.advance(1_000);
    budget.admit(1);
    await clock.advance(2_000);
    budget.confirm(slow); // the server answered the first request 3 s after it was sent
    assert.equal(budget.snapshot().nextReturnAt, t0 + 1_000 + WINDOW + MARGIN, 'the spends are kept in time order');
    assert.deepEqual(budget.waitFor(1), { ms: WINDOW + MARGIN - 2_000, limit: 'requestsPerMinute' });
    await clock.advance(WINDOW + MARGIN - 2_000);
    budget.admit(1); // the unit of the second request is back: take it again
    assert.deepEqual(
      budget.waitFor(1),
      { ms: 2_000, limit: 'requestsPerMinute' },
      'the confirmed one returns 3 s after it was sent + a window',
    );
  });

  it('takes a smaller share of a limit after the server refused for it, once per burst, and grows it back', async () => {
    const budget = new Budget(limits({ requestsPerMinute: 20 }), clock, undefined, options);
    for (let i = 0; i < 14; i++) budget.admit(1);
    assert.equal(budget.waitFor(1).ms, 0);
    for (let i = 0; i < 4; i++) budget.admit(1);
    budget.learnRefusal('requestsPerMinute'); // refused with 18 of ours in the window
    budget.learnRefusal('requestsPerMinute'); // the same burst of refusals: no second cut
    assert.equal(budget.snapshot().shares.requestsPerMinute, 0.75);
    assert.equal(budget.waitFor(1).limit, 'requestsPerMinute', '15 of 20 is the share now');
    assert.equal(budget.waitFor(1).ms, WINDOW / 10, 'and it looks again while the share grows back');
    await clock.advance(WINDOW);
    assert.ok(Math.abs(budget.snapshot().shares.requestsPerMinute - 0.85) < 1e-9);
    budget.learnRefusal('requestsPerMinute');
    assert.ok(Math.abs(budget.snapshot().shares.requestsPerMinute - 0.6375) < 1e-9, 'a later refusal cuts again');
    await clock.advance(10 * WINDOW);
    assert.equal(budget.snapshot().shares.requestsPerMinute, 1, 'fully back after windows without a refusal');
    assert.equal(budget.snapshot().shares.tokensPerMinute, 1, 'the other limit was never cut');
  });

  it('after a refusal for concurrency, holds no more in flight than it held when refused', () => {
    const budget = new Budget(limits({ concurrency: 10 }), clock, undefined, options);
    const held = Array.from({ length: 4 }, () => budget.admit(1));
    budget.learnRefusal('concurrency'); // the server was full with 4 of ours in flight
    assert.equal(budget.snapshot().shares.concurrency, 0.4);
    assert.deepEqual(budget.waitFor(1), { ms: Infinity, limit: 'concurrency' });
    budget.release(held[0]);
    assert.equal(budget.waitFor(1).ms, 0);
    const none = new Budget(limits({ concurrency: 0 }), clock, undefined, options);
    none.learnRefusal('concurrency');
    assert.equal(none.snapshot().shares.concurrency, 1, 'no limit set: nothing to take a share of');
  });

  it('cuts to what it held when refused, if that is less than three quarters', () => {
    const budget = new Budget(limits({ requestsPerMinute: 100 }), clock, undefined, options);
    for (let i = 0; i < 40; i++) budget.admit(1);
    budget.learnRefusal('requestsPerMinute'); // full at 40 of ours: someone else holds the other 60
    assert.equal(budget.snapshot().shares.requestsPerMinute, 0.4);
  });

  it('never cuts a share below one send in an otherwise empty window', async () => {
    const budget = new Budget(limits({ tokensPerMinute: 10_000 }), clock, undefined, options);
    for (let i = 0; i < 20; i++) {
      budget.learnRefusal('tokensPerMinute');
      await clock.advance(WINDOW / 4);
    }
    assert.ok(budget.snapshot().shares.tokensPerMinute < 0.2);
    assert.equal(budget.waitFor(9_000).ms, 0);
  });

  it('holds a send while every concurrency slot is taken, until one is released', () => {
    const budget = new Budget(limits({ concurrency: 1 }), clock, undefined, options);
    const admission = budget.admit(10);
    assert.deepEqual(budget.waitFor(10), { ms: Infinity, limit: 'concurrency' });
    budget.release(admission);
    budget.release(admission); // idempotent: the slot is not freed twice
    assert.equal(budget.snapshot().inFlight, 0);
    assert.equal(budget.waitFor(10).ms, 0);
  });

  it('counts tokens per day over a day-long window', async () => {
    const budget = new Budget(limits({ tokensPerMinute: 100, tokensPerDay: 250 }), clock, undefined, options);
    for (let i = 0; i < 2; i++) {
      budget.admit(100);
      await clock.advance(WINDOW + MARGIN);
    }
    assert.equal(budget.waitFor(50).ms, 0);
    const wait = budget.waitFor(100);
    assert.equal(wait.limit, 'tokensPerDay');
    assert.equal(wait.ms, 86_400_000 + MARGIN - 2 * (WINDOW + MARGIN));
  });

  it('names the limit and the numbers when a cost can never fit', () => {
    const budget = new Budget(limits({ tokensPerMinute: 1_000, tokensPerDay: 5_000 }), clock, undefined, options);
    assert.equal(budget.exceeds(1_000), undefined);
    assert.deepEqual(budget.exceeds(1_200), { limit: 'tokensPerMinute', tokens: 1_200, capacity: 1_000 });
    budget.setLimits(limits({ tokensPerMinute: 10_000, tokensPerDay: 5_000 }));
    assert.deepEqual(budget.exceeds(6_000), { limit: 'tokensPerDay', tokens: 6_000, capacity: 5_000 });
  });

  it('keeps what was spent when the limits change', () => {
    const budget = new Budget(limits({ requestsPerMinute: 10 }), clock, undefined, options);
    for (let i = 0; i < 5; i++) budget.admit(1);
    budget.setLimits(limits({ requestsPerMinute: 5 }));
    assert.equal(budget.waitFor(1).limit, 'requestsPerMinute');
    budget.setLimits(limits({ requestsPerMinute: 6 }));
    assert.equal(budget.waitFor(1).ms, 0);
    assert.equal(budget.snapshot().requestsUsed, 5);
  });

  it('plans admission times for a queue, and stops planning where only a finishing send can help', () => {
    const budget = new Budget(limits({ requestsPerMinute: 2 }), clock, undefined, options);
    const t0 = clock.now();
    assert.deepEqual(budget.plan([1, 1, 1, 1, 1], 0), [t0, t0, t0 + 61_000, t0 + 61_000, t0 + 122_000]);
    const serial = new Budget(limits({ concurrency: 1 }), clock, undefined, options);
    assert.deepEqual(serial.plan([1, 1], 0), [t0, undefined]);
  });

  it('starts from the spends a previous window kept, in time order', () => {
    const t0 = clock.now();
    const ledger = new MemoryLedger([
      { at: t0 - 10_000, requests: 1, tokens: 500 },
      { at: t0 - 30_000, requests: 1, tokens: 700 },
    ]);
    const budget = new Budget(limits({ requestsPerMinute: 2 }), clock, ledger, options);
    const snap = budget.snapshot();
    assert.equal(snap.requestsUsed, 2);
    assert.equal(snap.tokensUsed, 1_200);
    assert.equal(snap.nextReturnAt, t0 - 30_000 + WINDOW + MARGIN);
  });

  it('snapshots the minute: used units and when the next one returns', async () => {
    const budget = new Budget(limits(), clock, undefined, options);
    const t0 = clock.now();
    budget.admit(1_000);
    await clock.advance(1_000);
    budget.admit(2_000);
    const snap = budget.snapshot();
    assert.equal(snap.requestsUsed, 2);
    assert.equal(snap.tokensUsed, 3_000);
    assert.equal(snap.inFlight, 2);
    assert.equal(snap.nextReturnAt, t0 + WINDOW + MARGIN);
    await clock.advance(WINDOW + MARGIN);
    assert.equal(budget.snapshot().requestsUsed, 0);
  });
});
