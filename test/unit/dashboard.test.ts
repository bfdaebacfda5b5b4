// The dashboard's message protocol (what the page may say, what the extension sends) and the feed
// that fills it: the numbers the status bar shows, the line with whose send it is, and the series
// and costs only when they moved.
import * as assert from 'node:assert/strict';
import { MemoryAccountStore } from '../../src/core/account';
import { AnswerStats } from '../../src/core/answerStats';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, SendQueue, SendSpec } from '../../src/core/sendQueue';
import { MINUTE_MS, UsageSeries } from '../../src/core/usageSeries';
import { summarize } from '../../src/ui/budgetSummary';
import { DashboardFeed } from '../../src/ui/dashboardFeed';
import { DASHBOARD_WORDS, WHOSE } from '../../src/ui/words';
import { HostMessage, parseHostMessage, parsePageMessage } from '../../src/webview/protocol';
import { ManualClock } from '../support/manualClock';

const limits: Limits = { requestsPerMinute: 2, tokensPerMinute: 10_000, concurrency: 0, tokensPerDay: 50_000 };

/** A window whose sends take `answerMs` to answer, its queue recorded into a series, and the feed over them. */
function dashboard(
  others: { id: string; holder: string; tokens: number; order: number }[] = [],
  sameMachine?: (holder: string) => boolean,
) {
  const clock = new ManualClock(1_000 * MINUTE_MS + 5_000);
  const account = MemoryAccountStore.create(limits, clock, undefined, undefined, 'this-window');
  const queue = new SendQueue<string>(
    account,
    clock,
    () => ({ action: 'fail' }),
    DEFAULT_QUEUE_OPTIONS,
    () => 0,
  );
  const series = new UsageSeries(24 * 60);
  const stats = new AnswerStats();
  queue.onDidUse((e) => series.record(e));
  const spec = (label: string): SendSpec<string> => ({
    label,
    promptTokens: 900,
    maxTokens: 100,
    run: ({ sending }) => (sending(), new Promise((resolve) => clock.setTimer(2_000, () => resolve({ value: label })))),
  });
  const feed = new DashboardFeed({
    series,
    stats,
    snapshot: () => account.snapshot(),
    entries: () => queue.entries(),
    tickets: () => [...others, ...account.tickets],
    holder: () => account.holder,
    sameMachine,
    heldBy: () => queue.headHeldBy,
    now: () => clock.now(),
  });
  return { clock, account, queue, series, stats, feed, send: (label: string) => queue.enqueue(spec(label)).result };
}

function update(message: HostMessage) {
  assert.equal(message.type, 'update');
  if (message.type !== 'update') throw new Error('not an update');
  return message;
}

describe('the dashboard: protocol and feed', () => {
  it('accepts only the messages the page may send, with their values checked', () => {
    assert.deepEqual(parsePageMessage({ type: 'ready' }), { type: 'ready' });
    assert.deepEqual(parsePageMessage({ type: 'range', range: 'day', extra: 1 }), { type: 'range', range: 'day' });
    assert.deepEqual(parsePageMessage({ type: 'drawn', ms: 12.5, points: 1440 }), { type: 'drawn', ms: 12.5, points: 1440 });
    for (const bad of [
      undefined,
      null,
      'ready',
      42,
      {},
      { type: 'range', range: 'week' },
      { type: 'range', range: '__proto__' },
      { type: 'drawn', ms: -1, points: 1 },
      { type: 'drawn', ms: Number.NaN, points: 1 },
      { type: 'send', prompt: 'spend my budget' },
      { type: 'command', id: 'workbench.action.terminal.sendSequence' },
    ])
      assert.equal(parsePageMessage(bad), undefined, JSON.stringify(bad));
  });

  it("the page refuses an update whose series' columns differ in length", () => {
    const { feed } = dashboard();
    const message = update(feed.next());
    assert.ok(parseHostMessage(JSON.parse(JSON.stringify(message))));
    const broken = { ...message, series: { ...message.series!, tokens: [1] } };
    assert.equal(parseHostMessage(broken), undefined);
    assert.equal(parseHostMessage({ type: 'update', now: {}, line: 'x' }), undefined);
    assert.deepEqual(parseHostMessage(feed.init()), { type: 'init', words: DASHBOARD_WORDS });
  });

  it('shows the budget with the numbers of the status bar, and the line with ETAs and what holds it', async () => {
    const { clock, account, queue, feed, send } = dashboard([{ id: 'x', holder: 'other-window', tokens: 700, order: 0 }]);
    void send('first');
    void send('second');
    void send('third'); // waits for the minute
    await clock.advance(10);
    const message = update(feed.next());
    const label = summarize({
      snapshot: account.snapshot(),
      entries: queue.entries(),
      heldBy: queue.headHeldBy,
      refusal: undefined,
      now: clock.now(),
      model: 'kimi-k2.6',
      calibration: { ratio: 1, samples: 0 },
      sessionCostUsd: 0,
      sessionCostKnown: true,
    }).label;
    const { requestsLeft, requestsPerMinute, tokensLeft, tokensPerMinute, queued } = message.now;
    assert.equal(
      label,
      `Kimi budget: ${requestsLeft} of ${requestsPerMinute} requests, ${tokensLeft} of ${tokensPerMinute} tokens left; ${queued} queued`,
    );
    assert.equal(message.now.tokensToday, 2_000);
    assert.equal(message.now.tokensPerDay, 50_000);
    assert.deepEqual(
      message.line.map((r) => [r.label, r.whose, r.running, r.heldBy]),
      [
        ['first', WHOSE.here, true, ''],
        ['second', WHOSE.here, true, ''],
        ['—', WHOSE.otherWindow, false, 'requests per minute'],
        ['third', WHOSE.here, false, 'earlier sends'],
      ],
    );
    const third = message.line[3];
    assert.ok(third.etaSeconds !== null && third.etaSeconds > 50 && third.etaSeconds <= 61, `${third.etaSeconds} s`);
  });

  it("in a team's budget, tells a teammate's send (another machine) from another window's here", async () => {
    const others = [
      { id: 'x', holder: 'm1.other-window', tokens: 700, order: 0 },
      { id: 'y', holder: 'm2.teammate', tokens: 800, order: 1 },
    ];
    const { clock, feed, send } = dashboard(others, (holder) => holder.startsWith('m1.'));
    void send('mine');
    await clock.advance(10);
    assert.deepEqual(
      update(feed.next())
        .line.filter((r) => !r.running)
        .map((r) => [r.tokens, r.whose]),
      [
        [700, WHOSE.otherWindow],
        [800, WHOSE.teammate],
      ],
    );
  });

  it('sends the series and costs only when they moved, the minute rolled over or another range was asked for', async () => {
    const { clock, stats, feed, send } = dashboard();
    const first = update(feed.next());
    assert.equal(first.series?.at.length, 60, 'an hour of minutes');
    assert.ok(first.costs && first.accuracy);
    assert.equal(update(feed.next()).series, undefined, 'nothing moved');
    void send('a');
    await clock.advance(10);
    const moved = update(feed.next());
    assert.equal(moved.series?.requests.at(-1), 1);
    assert.equal(moved.costs, undefined);
    stats.record({ at: clock.now(), model: 'kimi-k2.6', costUsd: 0.01, estimatedTokens: 900, serverTokens: 1_000 });
    const costs = update(feed.next());
    assert.equal(costs.costs?.days.at(-1)?.usd, 0.01);
    assert.equal(costs.accuracy?.[0].meanErrorPercent, -10);
    await clock.advance(MINUTE_MS);
    assert.ok(update(feed.next()).series, 'a new minute');
    feed.reset('day');
    const day = update(feed.next());
    assert.equal(day.series?.range, 'day');
    assert.equal(day.series?.at.length, 24 * 60);
    assert.equal(
      day.series?.requests.reduce((a, b) => a + b, 0),
      1,
    );
  });
});
