import * as assert from 'node:assert/strict';
import { Calibration, FRAMING_TOKENS_PER_MESSAGE } from '../../src/tokens/calibration';

const FRAMING = FRAMING_TOKENS_PER_MESSAGE;

describe('Calibration', () => {
  it('adds the chat framing per message and leaves the count unscaled until an answer is recorded', () => {
    const calibration = new Calibration();
    assert.deepEqual(calibration.estimate('kimi-k2', 100, 3), { tokens: 100 + 3 * FRAMING, calibrated: false, ratio: 1 });
    assert.equal(calibration.samples('kimi-k2'), 0);
  });

  it("scales later estimates by the server's count over the local count of the same request", () => {
    const calibration = new Calibration();
    calibration.record('kimi-k2', 200 - FRAMING, 1, 250); // local 200, server 250
    assert.equal(calibration.ratio('kimi-k2'), 1.25);
    assert.deepEqual(calibration.estimate('kimi-k2', 400 - 2 * FRAMING, 2), { tokens: 500, calibrated: true, ratio: 1.25 });
    assert.equal(calibration.estimate('kimi-k2', 1, 0).tokens, 2, 'rounds up');
  });

  it('weighs samples by size: the ratio is of summed tokens, not an average of ratios', () => {
    const calibration = new Calibration();
    calibration.record('m', 1_000 - FRAMING, 1, 1_100); // 1.10 on a large prompt
    calibration.record('m', 10 - FRAMING, 1, 20); // 2.00 on a tiny one
    const ratio = calibration.ratio('m');
    assert.ok(ratio > 1.1 && ratio < 1.15, `ratio ${ratio}`);
  });

  it('follows a drift: recent answers outweigh old ones', () => {
    const calibration = new Calibration();
    for (let i = 0; i < 10; i++) calibration.record('m', 1_000, 0, 1_200);
    assert.ok(Math.abs(calibration.ratio('m') - 1.2) < 1e-9);
    for (let i = 0; i < 10; i++) calibration.record('m', 1_000, 0, 900);
    const ratio = calibration.ratio('m');
    assert.ok(Math.abs(ratio - 0.9) < 0.05, `ratio ${ratio} should have moved close to 0.9`);
    assert.equal(calibration.samples('m'), 20);
  });

  it('ignores nonsense samples', () => {
    const calibration = new Calibration();
    const nonsense: [number, number, number][] = [
      [100, 1, 0],
      [100, 1, -5],
      [100, 1, NaN],
      [100, 1, Infinity],
      [NaN, 1, 100],
      [-1, 1, 100],
      [Infinity, 1, 100],
      [100, -1, 100],
      [100, 1.5, 100],
      [0, 0, 100],
    ];
    for (const [content, messages, server] of nonsense) calibration.record('m', content, messages, server);
    assert.equal(calibration.samples('m'), 0);
    assert.deepEqual(calibration.estimate('m', 100, 1), { tokens: 100 + FRAMING, calibrated: false, ratio: 1 });
    assert.deepEqual(Object.keys(calibration.toJSON()), []);
  });

  it('caps what an absurd sample can do to the ratio', () => {
    const calibration = new Calibration();
    calibration.record('m', 100, 0, 1_000_000);
    assert.ok(calibration.ratio('m') <= 2, `ratio ${calibration.ratio('m')}`);
    const low = new Calibration();
    low.record('m', 100_000, 0, 1);
    assert.ok(low.ratio('m') >= 0.5, `ratio ${low.ratio('m')}`);
  });

  it('keeps models apart', () => {
    const calibration = new Calibration();
    calibration.record('kimi-k2', 1_000, 0, 1_300);
    assert.equal(calibration.ratio('kimi-k2'), 1.3);
    assert.equal(calibration.ratio('moonshot-v1-8k'), 1);
    assert.equal(calibration.estimate('moonshot-v1-8k', 1_000, 0).calibrated, false);
  });

  it('survives a JSON round trip, and drops stored entries that make no sense', () => {
    const calibration = new Calibration();
    calibration.record('kimi-k2', 1_000, 2, 1_300);
    calibration.record('kimi-k2', 500, 1, 560);
    calibration.record('other', 100, 1, 90);
    const stored = JSON.parse(JSON.stringify(calibration));
    const restored = new Calibration({
      ...stored,
      broken: { server: 'x', local: 1, samples: 1 },
      empty: { server: 0, local: 0, samples: 0 },
      missing: null,
    } as never);
    assert.deepEqual(restored.toJSON(), calibration.toJSON());
    for (const model of ['kimi-k2', 'other']) {
      assert.equal(restored.ratio(model), calibration.ratio(model));
      assert.equal(restored.samples(model), calibration.samples(model));
      assert.deepEqual(restored.estimate(model, 777, 3), calibration.estimate(model, 777, 3));
    }
    assert.equal(restored.samples('broken'), 0);
  });

  it('hands out a copy of its state', () => {
    const calibration = new Calibration();
    calibration.record('m', 100, 0, 120);
    calibration.toJSON().m.server = 1e9;
    assert.equal(calibration.ratio('m'), 1.2);
  });

  it('treats model ids as data: "toString" and "__proto__" are models like any other', () => {
    const calibration = new Calibration();
    for (const model of ['toString', '__proto__', 'constructor']) {
      assert.equal(calibration.ratio(model), 1);
      assert.equal(calibration.samples(model), 0);
      calibration.record(model, 100, 1, 208);
      assert.equal(calibration.ratio(model), 2);
    }
    const restored = new Calibration(JSON.parse(JSON.stringify(calibration.toJSON())));
    assert.equal(restored.ratio('__proto__'), 2);
    assert.equal(restored.samples('toString'), 1);
  });
});
