// Chat asks for token counts often, and the first count loads the tokenizer (about half a second in
// its worker). Where the chat parts run, that load happens in the background once the window has gone
// quiet after activation, so the chat's first count finds it ready; activation itself starts nothing.
import { Clock, systemClock } from '../../core/clock';

export interface WarmUpOptions {
  /** Wait at least this long after activation. */
  readonly delayMs: number;
  /** The window is quiet when a probe timer of `probeMs` fires no more than this late. */
  readonly lagMs: number;
  readonly probeMs: number;
  /** Warm up by then even if the window never went quiet. */
  readonly maxDelayMs: number;
}

export const WARM_UP: WarmUpOptions = { delayMs: 1_000, lagMs: 15, probeMs: 50, maxDelayMs: 10_000 };

/** Calls `warm` once the event loop is idle (or at the latest after `maxDelayMs`); dispose to call it off. */
export function warmUpWhenIdle(warm: () => void, clock: Clock = systemClock, options: WarmUpOptions = WARM_UP): { dispose(): void } {
  const start = clock.now();
  let cancel = clock.setTimer(options.delayMs, () => probe());
  const probe = (): void => {
    const asked = clock.now();
    cancel = clock.setTimer(options.probeMs, () => {
      const now = clock.now();
      if (now - asked - options.probeMs <= options.lagMs || now - start >= options.maxDelayMs) warm();
      else probe();
    });
  };
  return { dispose: () => cancel() };
}
