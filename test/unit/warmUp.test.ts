// The tokenizer is warmed once the window has gone quiet after activation: not before the delay,
// not while timers fire late (a busy event loop), at the latest after the longest delay, and never
// once called off.
import * as assert from 'node:assert/strict';
import { WARM_UP, warmUpWhenIdle } from '../../src/ui/chat/warmUp';
import { ManualClock } from '../support/manualClock';

/** A clock whose timers fire `lateBy` ms after they are due, as on a busy event loop. */
class BusyClock extends ManualClock {
  lateBy = 0;
  override setTimer(ms: number, fn: () => void): () => void {
    return super.setTimer(ms + this.lateBy, fn);
  }
}

describe('warmUpWhenIdle', () => {
  it('warms once, after the delay and one probe, in a quiet window', async () => {
    const clock = new BusyClock();
    let warmed = 0;
    warmUpWhenIdle(() => warmed++, clock);
    await clock.advance(WARM_UP.delayMs + WARM_UP.probeMs - 1);
    assert.equal(warmed, 0, 'not before the delay and a probe');
    await clock.advance(1);
    assert.equal(warmed, 1);
    await clock.advance(60_000);
    assert.equal(warmed, 1, 'once');
  });

  it('waits while timers fire late, and warms at the first probe on time', async () => {
    const clock = new BusyClock();
    let warmedAt: number | undefined;
    const start = clock.now();
    warmUpWhenIdle(() => (warmedAt = clock.now() - start), clock);
    clock.lateBy = WARM_UP.lagMs + 1;
    await clock.advance(3_000);
    assert.equal(warmedAt, undefined, 'busy: probes fire late');
    clock.lateBy = 0;
    await clock.advance(1_000);
    assert.ok(warmedAt !== undefined && warmedAt > 3_000 && warmedAt <= 3_000 + 2 * (WARM_UP.probeMs + WARM_UP.lagMs + 1), `${warmedAt}`);
  });

  it('warms after the longest delay even if the window never goes quiet; dispose calls it off', async () => {
    const busy = new BusyClock();
    busy.lateBy = 100;
    let warmed = false;
    warmUpWhenIdle(() => (warmed = true), busy);
    await busy.advance(WARM_UP.maxDelayMs - 200);
    assert.equal(warmed, false);
    await busy.advance(400);
    assert.equal(warmed, true);

    const clock = new ManualClock();
    let called = false;
    warmUpWhenIdle(() => (called = true), clock).dispose();
    await clock.advance(60_000);
    assert.equal(called, false);
  });
});
