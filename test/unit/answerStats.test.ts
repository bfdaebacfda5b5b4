// The answers' cost per day and per model, and how far the local estimate was from the server's count.
import * as assert from 'node:assert/strict';
import { AnswerStats, DAY_MS } from '../../src/core/answerStats';

const HOUR = 3_600_000;
const answer = (at: number, model: string, costUsd: number | undefined, estimatedTokens = 100, serverTokens = 100) => ({
  at,
  model,
  costUsd,
  estimatedTokens,
  serverTokens,
});

describe('AnswerStats: cost per day and model, and the estimate against the server', () => {
  it('sums cost per local day: an answer at 23:30 UTC is the next day two hours east', () => {
    const day = 100 * DAY_MS;
    const utc = new AnswerStats(0);
    const east = new AnswerStats(2 * HOUR);
    for (const stats of [utc, east]) {
      stats.record(answer(day + 10 * HOUR, 'kimi-k2.6', 0.5));
      stats.record(answer(day + 23.5 * HOUR, 'kimi-k2.6', 0.25));
    }
    const now = day + 23.9 * HOUR;
    assert.deepEqual(
      utc.costPerDay(now, 2).map((d) => [d.day, d.usd, d.answers]),
      [
        [day - DAY_MS, 0, 0],
        [day, 0.75, 2],
      ],
    );
    const later = east.costPerDay(day + 30 * HOUR, 2);
    assert.deepEqual(
      later.map((d) => [d.day, d.usd]),
      [
        [day - 2 * HOUR, 0.5],
        [day + DAY_MS - 2 * HOUR, 0.25],
      ],
    );
  });

  it('sums cost per model over the span, most expensive first, counting answers with no price', () => {
    const stats = new AnswerStats();
    const now = 50 * DAY_MS;
    stats.record(answer(now - 40 * DAY_MS, 'kimi-k2.5', 9)); // outside 30 days
    stats.record(answer(now - DAY_MS, 'kimi-k2.5', 0.1));
    stats.record(answer(now, 'kimi-k2.6', 0.3));
    stats.record(answer(now, 'mystery', undefined));
    assert.deepEqual(stats.costPerModel(now, 30), [
      { model: 'kimi-k2.6', usd: 0.3, answers: 1, unpriced: 0 },
      { model: 'kimi-k2.5', usd: 0.1, answers: 1, unpriced: 0 },
      { model: 'mystery', usd: 0, answers: 1, unpriced: 1 },
    ]);
  });

  it('measures the estimate against the server per model, over the last answers only', () => {
    const stats = new AnswerStats(0, 365, 3);
    stats.record(answer(1, 'kimi-k2.6', 0, 1_000, 100)); // pushed out by the next three
    stats.record(answer(2, 'kimi-k2.6', 0, 110, 100));
    stats.record(answer(3, 'kimi-k2.6', 0, 90, 100));
    stats.record(answer(4, 'kimi-k2.6', 0, 120, 100));
    stats.record(answer(5, 'kimi-k2.5', 0, 50, 100));
    const [k25, k26] = stats.estimateAccuracy();
    assert.equal(k25.model, 'kimi-k2.5', 'the most recently answered model first');
    assert.equal(k26.answers, 3);
    assert.ok(Math.abs(k26.meanErrorPercent - 20 / 3) < 1e-9, `${k26.meanErrorPercent}`);
    assert.ok(Math.abs(k26.meanAbsoluteErrorPercent - 40 / 3) < 1e-9, `${k26.meanAbsoluteErrorPercent}`);
    assert.deepEqual(k26.last.at(-1), { at: 4, estimated: 120, server: 100 });
    assert.equal(k25.meanErrorPercent, -50);
  });

  it('keeps a bounded span of days', () => {
    const stats = new AnswerStats(0, 10);
    for (let d = 0; d < 30; d++) stats.record(answer(d * DAY_MS, 'm', 1));
    assert.equal(stats.toJSON().days.length, 10);
    assert.equal(stats.costPerModel(29 * DAY_MS, 100)[0].answers, 10);
  });

  it('survives a save and restore, dropping what makes no sense', () => {
    const stats = new AnswerStats(HOUR);
    const now = 200 * DAY_MS;
    stats.record(answer(now - DAY_MS, 'kimi-k2.6', 0.2, 90, 100));
    stats.record(answer(now, 'kimi-k2.5', undefined, 100, 95));
    const saved = JSON.parse(JSON.stringify(stats.toJSON()));
    saved.days.push([0, 'x', -1, 1, 0], ['bad']);
    saved.accuracy['kimi-k2.5'].push([1, 2]);
    const restored = AnswerStats.restore(saved, now, HOUR);
    assert.deepEqual(restored.costPerDay(now), stats.costPerDay(now));
    assert.deepEqual(restored.costPerModel(now), stats.costPerModel(now));
    assert.deepEqual(
      restored
        .estimateAccuracy()
        .map((a) => a.model)
        .sort(),
      stats
        .estimateAccuracy()
        .map((a) => a.model)
        .sort(),
    );
    assert.deepEqual(AnswerStats.restore({ version: 9 }, now).costPerModel(now), []);
  });
});
