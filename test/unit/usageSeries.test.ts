// The per-minute usage series the dashboard draws: fed by the real queue on a manual clock, bounded,
// and kept across a reload (one in the middle of a minute included).
import * as assert from 'node:assert/strict';
import { Budget } from '../../src/core/budget';
import { DEFAULT_QUEUE_OPTIONS, SendQueue, SendSpec, Verdict } from '../../src/core/sendQueue';
import { MINUTE_MS, UsageSeries } from '../../src/core/usageSeries';
import { ManualClock, settle } from '../support/manualClock';

/** A clock at the start of a minute (plus `intoMinuteMs`). */
const clockAt = (intoMinuteMs = 0) => new ManualClock(1_000 * MINUTE_MS + intoMinuteMs);

class RateLimited extends Error {}
const classify = (error: unknown): Verdict =>
  error instanceof RateLimited ? { action: 'pause', afterMs: 90_000, evidence: 'max RPM reached' } : { action: 'fail' };

/** A queue of 2 requests per minute whose sends answer at once (the first `refusals` are refused), recorded into a series. */
function recordedQueue(clock: ManualClock, series: UsageSeries, refusals = 0, serverPromptTokens?: number) {
  const budget = new Budget({ requestsPerMinute: 2, tokensPerMinute: 1_000_000, concurrency: 0, tokensPerDay: 0 }, clock);
  const queue = new SendQueue<string>(budget, clock, classify, DEFAULT_QUEUE_OPTIONS, () => 0);
  queue.onDidUse((event) => series.record(event));
  let refuse = refusals;
  const spec = (label: string): SendSpec<string> => ({
    label,
    promptTokens: 100,
    maxTokens: 50,
    run: async ({ sending }) => {
      sending();
      if (refuse-- > 0) throw new RateLimited();
      return { value: label, promptTokens: serverPromptTokens };
    },
  });
  return { queue, send: (label: string) => queue.enqueue(spec(label)).result };
}

describe('UsageSeries: how the budget was used, minute by minute', () => {
  it('buckets what the queue did by minute: sends, tokens, the line and how long the late send waited', async () => {
    const clock = clockAt(10_000);
    const series = new UsageSeries(60);
    const { send } = recordedQueue(clock, series);
    const answers = Promise.all([send('a'), send('b'), send('c')]); // the third waits for the minute to come back
    await clock.advance(2 * MINUTE_MS);
    assert.deepEqual(await answers, ['a', 'b', 'c']);
    const start = 1_000 * MINUTE_MS;
    const view = series.view(start, start + 3 * MINUTE_MS);
    assert.deepEqual(view.at, [start, start + MINUTE_MS, start + 2 * MINUTE_MS]);
    assert.deepEqual(view.requests, [2, 1, 0]);
    assert.deepEqual(view.tokens, [300, 150, 0]);
    assert.deepEqual(view.queue, [1, 1, 0], 'one send waited from the first minute into the second');
    assert.deepEqual(view.meanWaitMs.slice(0, 1), [0]);
    assert.ok(view.meanWaitMs[1] >= 60_000 && view.meanWaitMs[1] <= 62_000, `the late send waited a window: ${view.meanWaitMs[1]} ms`);
  });

  it("the server's count corrects the tokens of the minute the send went out in", async () => {
    const clock = clockAt(50_000);
    const series = new UsageSeries(60);
    const { send } = recordedQueue(clock, series, 0, 30);
    await send('a');
    await clock.advance(20_000); // settled in the next minute, counted in the first
    const view = series.view(clock.now() - 2 * MINUTE_MS, clock.now());
    assert.deepEqual(view.tokens.slice(-2), [80, 0], '30 prompt tokens by the server + 50 max output');
  });

  it("marks the server's refusals and the pause it asked for, across the minutes it lasted", async () => {
    const clock = clockAt(30_000);
    const series = new UsageSeries(60);
    const { send } = recordedQueue(clock, series, 1);
    const answer = send('a');
    await clock.advance(3 * MINUTE_MS);
    assert.equal(await answer, 'a');
    const start = 1_000 * MINUTE_MS;
    const view = series.view(start, start + 3 * MINUTE_MS);
    assert.deepEqual(view.refusals, [1, 0, 0]);
    assert.deepEqual(view.pausedMs, [30_000, 60_000, 0], '90 s of pause from 0:30');
    assert.deepEqual(view.requests, [1, 0, 1], 'the refused request counts, and so does its retry once the pause is over');
  });

  it('views coarser buckets as sums, the line as its longest', () => {
    const series = new UsageSeries(60);
    for (let minute = 0; minute < 6; minute++)
      series.record({ kind: 'admitted', at: minute * MINUTE_MS, tokens: 10, waitedMs: 1_000 * minute });
    series.record({ kind: 'line', at: 4 * MINUTE_MS, waiting: 3 });
    const view = series.view(0, 6 * MINUTE_MS, 3);
    assert.deepEqual(view.requests, [3, 3]);
    assert.deepEqual(view.tokens, [30, 30]);
    assert.deepEqual(view.queue, [0, 3]);
    assert.deepEqual(view.meanWaitMs, [1_000, 4_000]);
  });

  it("carries the line's length into minutes with no event", () => {
    const series = new UsageSeries(60);
    series.record({ kind: 'line', at: 0, waiting: 2 });
    series.record({ kind: 'line', at: 3 * MINUTE_MS + 5, waiting: 0 });
    assert.deepEqual(series.view(0, 5 * MINUTE_MS).queue, [2, 2, 2, 2, 0]);
  });

  it('is bounded: minutes older than the span are forgotten, and events for them ignored', () => {
    const series = new UsageSeries(10);
    for (let minute = 0; minute < 25; minute++) series.record({ kind: 'admitted', at: minute * MINUTE_MS, tokens: 1, waitedMs: 0 });
    series.record({ kind: 'admitted', at: 2 * MINUTE_MS, tokens: 1, waitedMs: 0 });
    const saved = series.toJSON();
    assert.deepEqual(
      saved.rows.map((r) => r[0]),
      Array.from({ length: 10 }, (_, i) => 15 + i),
    );
    assert.deepEqual(series.view(0, 25 * MINUTE_MS).requests, [...Array(15).fill(0), ...Array(10).fill(1)]);
  });

  it('survives a save and restore: the same numbers, drawn the same', async () => {
    const clock = clockAt(10_000);
    const series = new UsageSeries(60);
    const { send } = recordedQueue(clock, series, 1);
    const answers = Promise.all([send('a'), send('b'), send('c')]);
    await clock.advance(4 * MINUTE_MS);
    await answers;
    const restored = UsageSeries.restore(JSON.parse(JSON.stringify(series.toJSON())), clock.now(), 60);
    const span: [number, number] = [clock.now() - 10 * MINUTE_MS, clock.now()];
    assert.deepEqual(restored.view(...span), series.view(...span));
    assert.ok(
      series.view(...span).refusals.some((n) => n > 0),
      'the span holds a refusal',
    );
  });

  it('a reload in the middle of a minute goes on counting that minute', async () => {
    const clock = clockAt(10_000);
    const before = new UsageSeries(60);
    await recordedQueue(clock, before).send('a');
    await clock.advance(20_000); // the window reloads at 0:30
    const after = UsageSeries.restore(before.toJSON(), clock.now(), 60);
    await recordedQueue(clock, after).send('b');
    await clock.advance(MINUTE_MS);
    await recordedQueue(clock, after).send('c');
    await settle();
    const view = after.view(1_000 * MINUTE_MS, clock.now());
    assert.deepEqual(view.requests, [2, 1]);
    assert.deepEqual(view.tokens, [300, 150]);
  });

  it('a restore keeps only rows that make sense, within the span before now', () => {
    const now = 100 * MINUTE_MS + 5;
    const restored = UsageSeries.restore(
      {
        version: 1,
        rows: [
          [99, 1, 10, 0, 0, 0, 0, 1],
          [101, 1, 10, 0, 0, 0, 0, 1], // the future
          [80, 1, 10, 0, 0, 0, 0, 1], // older than the span
          [98, -1, 10, 0, 0, 0, 0, 1], // negative
          [97, 1, 'x', 0, 0, 0, 0, 1],
          [96, 1],
        ],
        pauses: [
          [0, 'x'],
          [99 * MINUTE_MS, 99 * MINUTE_MS + 1_000],
        ],
      },
      now,
      10,
    );
    const view = restored.view(91 * MINUTE_MS, now);
    assert.deepEqual(view.requests, [0, 0, 0, 0, 0, 0, 0, 0, 1, 0]);
    assert.deepEqual(view.pausedMs, [0, 0, 0, 0, 0, 0, 0, 0, 1_000, 0]);
    assert.deepEqual(UsageSeries.restore({ version: 2, rows: [[99, 1, 1, 0, 0, 0, 0, 1]] }, now, 10).toJSON().rows, []);
    assert.deepEqual(UsageSeries.restore(undefined, now, 10).toJSON().rows, []);
  });

  it('its version moves with every change, so a reader resends only what moved', () => {
    const series = new UsageSeries(10);
    const v0 = series.version;
    series.view(0, MINUTE_MS);
    assert.equal(series.version, v0);
    series.record({ kind: 'admitted', at: 0, tokens: 1, waitedMs: 0 });
    assert.ok(series.version > v0);
  });
});
