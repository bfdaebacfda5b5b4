// A window reload keeps what the budget needs: the minute's spends one by one, the day's summed
// per minute, so that neither a per-minute nor a per-day limit is overspent by the next window.
import * as assert from 'node:assert/strict';
import type * as vscode from 'vscode';
import { Budget } from '../../src/core/budget';
import { keptSpends, MemoryLedger, Spend } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { SpentStore } from '../../src/ui/spentStore';
import { ManualClock } from '../support/manualClock';

const MINUTE = 60_000;
const DAY = 86_400_000;
const limits: Limits = { requestsPerMinute: 100, tokensPerMinute: 5_000, concurrency: 0, tokensPerDay: 10_000 };

/** Global state as VS Code keeps it, in memory. */
function memento(): vscode.Memento {
  const values = new Map<string, unknown>();
  return {
    keys: () => [...values.keys()],
    get: <T>(key: string, fallback?: T) => (values.has(key) ? (values.get(key) as T) : fallback),
    update: async (key: string, value: unknown) => void values.set(key, value),
  } as vscode.Memento;
}

/** Spends 2,000 tokens four times, two minutes apart, then lets ten minutes pass; returns the window's budget and ledger. */
async function aMorning(clock: ManualClock, store: SpentStore): Promise<{ budget: Budget; ledger: MemoryLedger }> {
  const ledger = store.restore(clock.now());
  const budget = new Budget(limits, clock, ledger);
  for (let i = 0; i < 4; i++) {
    budget.release(budget.admit(2_000));
    await clock.advance(2 * MINUTE);
  }
  await clock.advance(10 * MINUTE);
  return { budget, ledger };
}

describe('SpentStore: the budget across a window reload', () => {
  it('a reload keeps the day: the next window waits for the day as this one would, instead of spending it again', async () => {
    const clock = new ManualClock();
    const state = memento();
    const store = new SpentStore(state);
    const { budget: before, ledger } = await aMorning(clock, store);
    store.save(ledger, () => clock.now());
    store.dispose(); // the window closes: the save is made at once
    const after = new Budget(limits, clock, new SpentStore(state).restore(clock.now()));
    assert.equal(after.snapshot().tokensUsedToday, 8_000);
    const wait = after.waitFor(3_000);
    assert.equal(wait.limit, 'tokensPerDay');
    assert.ok(wait.ms >= before.waitFor(3_000).ms, `${wait.ms} ms: no earlier than the window that spent it`);
  });

  it('a reload a day later keeps nothing: the whole day is there again', async () => {
    const clock = new ManualClock();
    const state = memento();
    const store = new SpentStore(state);
    store.save((await aMorning(clock, store)).ledger, () => clock.now());
    store.dispose();
    await clock.advance(DAY);
    const after = new Budget(limits, clock, new SpentStore(state).restore(clock.now()));
    assert.equal(after.snapshot().tokensUsedToday, 0);
    assert.equal(after.waitFor(5_000).ms, 0);
  });

  it('keeps a day of 120 requests a minute in about 1,560 entries, every token, none dated earlier than spent', () => {
    const now = 10 * DAY;
    const spends: Spend[] = Array.from({ length: 120 * 1_440 }, (_, i) => ({
      id: String(i + 1),
      at: now - DAY + 1 + i * 500,
      requests: 1,
      tokens: 7,
    }));
    const kept = keptSpends(spends, now - DAY - 1_000, now - 61_500);
    assert.ok(kept.length <= 1_441 + 123, `${kept.length} entries`);
    assert.equal(
      kept.reduce((sum, s) => sum + s.tokens, 0),
      spends.length * 7,
    );
    assert.equal(
      kept.reduce((sum, s) => sum + s.requests, 0),
      spends.length,
    );
    // Each original spend is covered by an entry dated at or after it, in its minute.
    const last = kept.at(-1)!;
    assert.ok(last.at <= now);
    for (const spend of spends.filter((_, i) => i % 997 === 0)) {
      const entry = kept.find((k) => k.at >= spend.at && (k.at - spend.at < MINUTE || spend.at > now - 61_500));
      assert.ok(entry, `a spend at ${spend.at} is kept no earlier than it was made`);
    }
    // The last minute stays exact, spend by spend.
    assert.deepEqual(
      kept.filter((k) => k.at > now - 61_500).map((k) => k.tokens),
      spends.filter((s) => s.at > now - 61_500).map(() => 7),
    );
  });
});
