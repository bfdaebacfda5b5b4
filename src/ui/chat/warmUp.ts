// Chat asks for token counts often, and the first count loads the tokenizer (about half a second in
// its worker). Where the chat parts run, that load happens in the background once the window has gone
// quiet after activation, so the chat's first count finds it ready; activation itself starts nothing.

export interface WarmUpOptions {
  /** Wait at least this long after activation. */
  readonly delayMs: number;
  /** The window is quiet when a short timer fires no later than this. */
  readonly lagMs: number;
  /** Warm up by then even if the window never went quiet. */
  readonly maxDelayMs: number;
}

export const WARM_UP: WarmUpOptions = { delayMs: 1_000, lagMs: 15, maxDelayMs: 10_000 };

/** Calls `warm` once the event loop is idle (or at the latest after `maxDelayMs`); dispose to call it off. */
export function warmUpWhenIdle(warm: () => void, options: WarmUpOptions = WARM_UP): { dispose(): void } {
  const start = Date.now();
  let timer: NodeJS.Timeout | undefined;
  const probe = (): void => {
    const asked = Date.now();
    timer = setTimeout(() => {
      const lag = Date.now() - asked - 50;
      if (lag <= options.lagMs || Date.now() - start >= options.maxDelayMs) {
        timer = undefined;
        warm();
      } else probe();
    }, 50);
    timer.unref?.();
  };
  timer = setTimeout(probe, options.delayMs);
  timer.unref?.();
  return { dispose: () => timer && clearTimeout(timer) };
}
