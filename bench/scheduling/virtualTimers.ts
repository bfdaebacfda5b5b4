import type { SimClock } from './simClock';

/** What bottleneck expects back from setTimeout/setInterval (it calls unref on its heartbeat). */
class VirtualTimer {
  cancel: () => void = () => {};
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
  hasRef(): boolean {
    return false;
  }
}

/**
 * Points the global setTimeout/setInterval and Date.now at a SimClock, so that a library written
 * for real time (bottleneck reads Date.now and sets timers; it takes no clock) runs on simulated
 * time, with timers that fire exactly when asked. Returns the function that puts the real ones back.
 * setImmediate stays real: SimClock uses it to let promise callbacks run between events.
 */
export function useVirtualTimers(clock: SimClock): () => void {
  const g = globalThis as unknown as Record<string, unknown>;
  const real = { setTimeout: g.setTimeout, clearTimeout: g.clearTimeout, setInterval: g.setInterval, clearInterval: g.clearInterval };
  const realNow = Date.now;
  const epoch = realNow();
  const clear = (timer: unknown) => {
    if (timer instanceof VirtualTimer) timer.cancel();
    else (real.clearTimeout as (t: unknown) => void)(timer);
  };
  g.setTimeout = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = new VirtualTimer();
    timer.cancel = clock.setTimer(ms ?? 0, () => fn(...args));
    return timer;
  };
  g.setInterval = (fn: (...args: unknown[]) => void, ms?: number, ...args: unknown[]) => {
    const timer = new VirtualTimer();
    const period = Math.max(1, ms ?? 0);
    const arm = () => {
      timer.cancel = clock.setTimer(period, () => {
        arm();
        fn(...args);
      });
    };
    arm();
    return timer;
  };
  g.clearTimeout = clear;
  g.clearInterval = clear;
  Date.now = () => epoch + clock.now();
  return () => {
    Object.assign(g, real);
    Date.now = realNow;
  };
}
