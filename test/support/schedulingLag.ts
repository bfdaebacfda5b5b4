/**
 * How late this machine runs timers while a test runs: a timer set every `periodMs` records how much
 * later than asked it fired. On a loaded machine every process (the windows, the server) waits about
 * as long for its turn; timing checks between processes allow for what was measured in the same run,
 * instead of a bound that holds only on a quiet machine.
 */
export class SchedulingLag {
  private timer: NodeJS.Timeout | undefined;
  private expected = 0;
  private worst = 0;
  private readonly lates: number[] = [];

  constructor(private readonly periodMs = 10) {}

  start(): this {
    const tick = () => {
      const late = Math.max(0, performance.now() - this.expected);
      this.lates.push(late);
      this.worst = Math.max(this.worst, late);
      this.expected = performance.now() + this.periodMs;
      this.timer = setTimeout(tick, this.periodMs);
    };
    this.expected = performance.now() + this.periodMs;
    this.timer = setTimeout(tick, this.periodMs);
    return this;
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  /** The latest a timer fired, in ms. */
  get maxMs(): number {
    return Math.round(this.worst);
  }

  /** The 99th percentile of lateness, in ms. */
  get p99Ms(): number {
    const sorted = [...this.lates].sort((a, b) => a - b);
    return Math.round(sorted[Math.floor(sorted.length * 0.99)] ?? 0);
  }
}
