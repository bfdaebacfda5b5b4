import type { Clock } from '../../src/core/clock';

interface SimEvent {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/**
 * Simulated time for a discrete-event run: an hour of traffic in seconds. Timers fire in time order
 * (ties in the order they were set), at whole milliseconds so that window arithmetic is exact; after
 * each one, every promise callback it made ready runs before time moves on, so async code (the
 * engine's sends, bottleneck's jobs) reacts at the instant it was woken.
 */
export class SimClock implements Clock {
  private time = 0;
  private seq = 0;
  private readonly heap: SimEvent[] = [];
  eventsRun = 0;

  now(): number {
    return this.time;
  }

  setTimer(ms: number, fn: () => void): () => void {
    const delay = Number.isFinite(ms) ? Math.max(0, Math.ceil(ms)) : 0;
    const event: SimEvent = { at: this.time + delay, seq: this.seq++, fn, cancelled: false };
    this.push(event);
    return () => {
      event.cancelled = true;
    };
  }

  /** Runs events until `done()`, no event is left, or the next one is past `horizon`. */
  async run(done: () => boolean, horizon: number): Promise<'done' | 'idle' | 'horizon'> {
    await macrotask();
    while (!done()) {
      const event = this.pop();
      if (!event) return 'idle';
      if (event.cancelled) continue;
      if (event.at > horizon) {
        this.time = horizon;
        return 'horizon';
      }
      this.time = event.at;
      this.eventsRun++;
      event.fn();
      await macrotask();
    }
    return 'done';
  }

  private push(event: SimEvent): void {
    const heap = this.heap;
    heap.push(event);
    for (let i = heap.length - 1; i > 0;) {
      const parent = (i - 1) >> 1;
      if (!earlier(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  private pop(): SimEvent | undefined {
    const heap = this.heap;
    const top = heap[0];
    const last = heap.pop();
    if (heap.length && last) {
      heap[0] = last;
      for (let i = 0; ;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && earlier(heap[l], heap[m])) m = l;
        if (r < heap.length && earlier(heap[r], heap[m])) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m], heap[i]];
        i = m;
      }
    }
    return top;
  }
}

function earlier(a: SimEvent, b: SimEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** Node drains every ready promise callback before the next macrotask: one setImmediate is enough. */
function macrotask(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
