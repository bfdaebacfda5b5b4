// The dashboard's data across a window reload: the series and the costs are written to global state
// soon after they change (one write for a burst) and at once when the window closes.
import * as assert from 'node:assert/strict';
import type * as vscode from 'vscode';
import { MINUTE_MS } from '../../src/core/usageSeries';
import { UsageStore } from '../../src/ui/usageStore';

/** Global state as VS Code keeps it, in memory, counting writes. */
function memento() {
  const values = new Map<string, unknown>();
  let writes = 0;
  const state = {
    keys: () => [...values.keys()],
    get: <T>(key: string, fallback?: T) => (values.has(key) ? (values.get(key) as T) : fallback),
    update: async (key: string, value: unknown) => {
      writes++;
      values.set(key, JSON.parse(JSON.stringify(value)));
    },
  } as vscode.Memento;
  return { state, writes: () => writes };
}

const NOW = 30_000 * MINUTE_MS + 20_000;

describe('UsageStore: the dashboard across a reload', () => {
  it('a window that closes keeps its series and costs for the next one', () => {
    const { state } = memento();
    const before = new UsageStore(state, NOW, 0);
    before.series.record({ kind: 'admitted', at: NOW, tokens: 700, waitedMs: 0 });
    before.stats.record({ at: NOW, model: 'kimi-k2.6', costUsd: 0.02, estimatedTokens: 190, serverTokens: 200 });
    before.save();
    before.dispose(); // the window closes before the delayed write: it is made at once
    const after = new UsageStore(state, NOW + 10_000, 0);
    assert.deepEqual(after.series.view(NOW - MINUTE_MS, NOW).tokens, [0, 700]);
    assert.equal(after.stats.costPerDay(NOW, 1)[0].usd, 0.02);
    assert.equal(after.stats.estimateAccuracy()[0].meanErrorPercent, -5);
  });

  it('a burst of changes makes one write', () => {
    const { state, writes } = memento();
    const store = new UsageStore(state, NOW, 0);
    for (let i = 0; i < 100; i++) {
      store.series.record({ kind: 'admitted', at: NOW, tokens: 1, waitedMs: 0 });
      store.save();
    }
    assert.equal(writes(), 0, 'not at once');
    store.dispose();
    assert.equal(writes(), 2, 'the series and the costs, once each');
    store.dispose();
    assert.equal(writes(), 2, 'nothing left to write');
  });
});
