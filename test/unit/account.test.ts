import * as assert from 'node:assert/strict';
import { AccountSwitch, DisposableStore } from '../../src/account/accountSwitch';
import { AccountState, MemoryAccountStore } from '../../src/core/account';
import { Budget } from '../../src/core/budget';
import { MemoryLedger } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, SendQueue } from '../../src/core/sendQueue';
import { ManualClock } from '../support/manualClock';

const limits = (l: Partial<Limits> = {}): Limits => ({
  requestsPerMinute: 10,
  tokensPerMinute: 10_000,
  concurrency: 0,
  tokensPerDay: 0,
  ...l,
});
const spend = (id: string, at: number, holder = 'a') => ({ id, at, requests: 1, tokens: 100, holder });

describe('the account store', () => {
  let clock: ManualClock;
  beforeEach(() => (clock = new ManualClock(1_000_000)));

  it("takes the smallest of every window's limits, says they differ, and forgets a window's limits when it is gone", () => {
    const state = new AccountState(clock, new Budget(limits(), clock));
    state.apply({ op: 'limits', holder: 'a', limits: limits({ requestsPerMinute: 10, concurrency: 0 }) });
    state.apply({ op: 'limits', holder: 'b', limits: limits({ requestsPerMinute: 4, tokensPerMinute: 50_000, concurrency: 3 }) });
    assert.deepEqual(
      state.limits,
      { requestsPerMinute: 4, tokensPerMinute: 10_000, concurrency: 3, tokensPerDay: 0 },
      '0 (no limit) is the largest',
    );
    assert.equal(state.limitsDiffer, true);
    assert.equal(state.budget.currentLimits.requestsPerMinute, 4, 'the policy uses them');
    state.apply({ op: 'gone', holder: 'b' });
    assert.equal(state.limits.requestsPerMinute, 10);
    assert.equal(state.limitsDiffer, false);
  });

  it('admits only the head of the line, in the order sends were first queued, whatever window they wait in', () => {
    const store = MemoryAccountStore.create(limits(), clock);
    const state = store.state;
    state.apply({ op: 'join', ticket: { id: 'b1', holder: 'b', tokens: 100, order: 20 } });
    store.join({ id: 'a1', tokens: 100, order: 30 });
    state.apply({ op: 'join', ticket: { id: 'b0', holder: 'b', tokens: 100, order: 10 } });
    assert.deepEqual(
      store.tickets.map((t) => t.id),
      ['b0', 'b1', 'a1'],
    );
    assert.deepEqual(store.waitFor('a1', 100), { ms: Infinity, limit: 'line' });
    assert.equal(store.tryAdmit('a1', 100, 'a1#1'), undefined, 'not at the head: not admitted, nothing spent');
    assert.equal(store.snapshot().requestsUsed, 0);
    state.apply({ op: 'admit', ticket: 'b0', spend: spend('b0#1', clock.now(), 'b') });
    state.apply({ op: 'leave', id: 'b1' });
    const admission = store.tryAdmit('a1', 100, 'a1#1');
    assert.ok(admission, 'at the head and within every limit');
    assert.equal(store.snapshot().requestsUsed, 2);
    assert.deepEqual(store.snapshot().spentBy, { here: { requests: 1, tokens: 100 }, others: { requests: 1, tokens: 100 } });
  });

  it('a window gone: its waiting sends leave the line and its slots come back, its spends stay spent', () => {
    const state = new AccountState(clock, new Budget(limits({ concurrency: 1 }), clock));
    state.apply({ op: 'admit', ticket: 'b0', spend: spend('b0#1', clock.now(), 'b') });
    state.apply({ op: 'join', ticket: { id: 'b1', holder: 'b', tokens: 100, order: 1 } });
    state.apply({ op: 'join', ticket: { id: 'a1', holder: 'a', tokens: 100, order: 2 } });
    assert.equal(state.waitFor('b1', 100).limit, 'concurrency');
    state.apply({ op: 'gone', holder: 'b' });
    assert.deepEqual(
      state.tickets.map((t) => t.id),
      ['a1'],
    );
    assert.deepEqual(state.waitFor('a1', 100), { ms: 0, limit: null }, 'the slot came back');
    assert.equal(state.budget.snapshot().requestsUsed, 1, 'the spend stays');
  });

  it('a copy started from an image and fed the same ops is the same state', () => {
    const a = new AccountState(clock, new Budget(limits({ concurrency: 2 }), clock));
    const ops = [
      { op: 'limits', holder: 'a', limits: limits({ concurrency: 2 }) },
      { op: 'admit', ticket: 'x', spend: spend('x#1', clock.now() - 30_000) },
      { op: 'join', ticket: { id: 't', holder: 'a', tokens: 300, order: 5 } },
      { op: 'admit', ticket: 'y', spend: spend('y#1', clock.now() - 5_000) },
      { op: 'settle', id: 'y#1', tokens: 250 },
      { op: 'refusal', limit: 'tokensPerMinute', at: clock.now() },
    ] as const;
    for (const op of ops.slice(0, 3)) a.apply(op);
    const b = new AccountState(clock, new Budget(limits(), clock));
    b.load(JSON.parse(JSON.stringify(a.image())) as ReturnType<AccountState['image']>);
    for (const op of ops.slice(3)) {
      a.apply(op);
      b.apply(op);
    }
    assert.deepEqual(b.budget.snapshot(), a.budget.snapshot());
    assert.deepEqual(b.tickets, a.tickets);
    assert.deepEqual(b.limits, a.limits);
    assert.deepEqual(b.plan(0), a.plan(0));
  });

  it('a window that moves to another account (a new key) takes its waiting sends along; a running one ends where it began', async () => {
    const opened: MemoryAccountStore[] = [];
    const account = new AccountSwitch('one', limits({ requestsPerMinute: 1 }), (_identity, l) => {
      const store = MemoryAccountStore.create(l, clock, new MemoryLedger(), undefined, 'me') as MemoryAccountStore & DisposableStore;
      opened.push(store);
      return store;
    });
    const queue = new SendQueue<string>(account, clock, () => ({ action: 'fail' }), DEFAULT_QUEUE_OPTIONS);
    let finish!: (value: { value: string }) => void;
    const first = queue.enqueue({
      label: 'running',
      promptTokens: 10,
      maxTokens: 10,
      run: () => new Promise((resolve) => (finish = resolve)),
    });
    const second = queue.enqueue({ label: 'waiting', promptTokens: 10, maxTokens: 10, run: async () => ({ value: 'two' }) });
    assert.equal(queue.runningCount, 1);
    assert.equal(queue.waitingCount, 1, 'the first account allows one request a minute');
    const other = { id: 'theirs', holder: 'another window', tokens: 20, order: clock.now() + 1 };
    account.switchTo('two');
    opened[1].state.apply({ op: 'join', ticket: other });
    await Promise.resolve();
    assert.equal(opened.length, 2);
    assert.deepEqual(
      opened[1].tickets.map((t) => t.id),
      ['theirs'],
      "this window's waiting send joined the new account's line ahead of a later one, and went out",
    );
    assert.equal(await second.result, 'two', "the waiting send went out on the new account's budget");
    assert.equal(opened[0].snapshot().requestsUsed, 1);
    assert.equal(opened[1].snapshot().requestsUsed, 1);
    finish({ value: 'one' });
    assert.equal(await first.result, 'one');
    assert.equal(opened[0].snapshot().inFlight, 0, 'the running send released its slot on the account that admitted it');
    queue.dispose();
    account.dispose();
  });
});
