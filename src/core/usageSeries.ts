// How the budget was used, minute by minute: what went out, what the server refused, how long sends
// waited and how long the line was. Kept for a bounded span (30 days by default) in a ring of
// fixed-size columns, so that recording is a constant amount of work and memory never grows.

export const MINUTE_MS = 60_000;
/** 30 days of minutes. */
export const DEFAULT_SERIES_MINUTES = 30 * 24 * 60;
/** Server pauses remembered (each a span of time); older ones go first. */
const MAX_PAUSES = 2_000;

/** What one minute (or a span of minutes, when viewed coarser) held. */
export interface UsageColumns {
  /** Start of each bucket, in clock milliseconds. */
  readonly at: number[];
  readonly requests: number[];
  readonly tokens: number[];
  /** Refusals by the server for rate (429). */
  readonly refusals: number[];
  /** Milliseconds of the bucket the queue was paused at the server's word. */
  readonly pausedMs: number[];
  /** The longest the line was during the bucket. */
  readonly queue: number[];
  /** Mean wait of the sends that went out during the bucket, in ms (0 when none went). */
  readonly meanWaitMs: number[];
}

/** One event of the send queue, in the words the series keeps. */
export type UsageEvent =
  /** A send was admitted and went out after waiting `waitedMs`. */
  | { readonly kind: 'admitted'; readonly at: number; readonly tokens: number; readonly waitedMs: number }
  /** The server's count corrected the tokens of a send admitted at `admittedAt` by `delta`. */
  | { readonly kind: 'settled'; readonly admittedAt: number; readonly delta: number }
  /** A send admitted at `admittedAt` never left: its units are back. */
  | { readonly kind: 'refunded'; readonly admittedAt: number; readonly tokens: number }
  /** The server refused for rate at `at`; the queue is paused until `until`. */
  | { readonly kind: 'refused'; readonly at: number; readonly until: number }
  /** The line holds `waiting` sends from `at` on. */
  | { readonly kind: 'line'; readonly at: number; readonly waiting: number };

/** The series as saved: sparse rows of the minutes that hold something. */
export interface SavedUsage {
  readonly version: 1;
  /** [minute number, requests, tokens, refusals, queue max, queue at the end, summed wait ms, sends started]. */
  readonly rows: number[][];
  /** [from, until] in clock ms. */
  readonly pauses: [number, number][];
}

const COLUMNS = ['requests', 'tokens', 'refusals', 'queueMax', 'queueEnd', 'waitedMs', 'started'] as const;
type Column = (typeof COLUMNS)[number];

export class UsageSeries {
  /** The minute number (ms / 60,000) each slot holds; -1 for none. */
  private readonly stamps: Float64Array;
  private readonly columns: Record<Column, Float64Array>;
  private pauses: [number, number][] = [];
  /** The latest minute recorded: minutes more than the span before it are gone. */
  private latest = -Infinity;
  /** The line's length as last told, carried into minutes with no event. */
  private waiting = 0;
  private changes = 0;

  constructor(readonly minutes: number = DEFAULT_SERIES_MINUTES) {
    this.stamps = new Float64Array(minutes).fill(-1);
    this.columns = Object.fromEntries(COLUMNS.map((c) => [c, new Float64Array(minutes)])) as Record<Column, Float64Array>;
  }

  /** Goes up with every change: a reader sends the series again only when it moved. */
  get version(): number {
    return this.changes;
  }

  /** The series from what toJSON wrote, keeping only the span before `now`; rows that do not make sense are skipped. */
  static restore(saved: unknown, now: number, minutes: number = DEFAULT_SERIES_MINUTES): UsageSeries {
    const series = new UsageSeries(minutes);
    const s = saved as Partial<SavedUsage> | undefined;
    if (s?.version !== 1) return series;
    const nowMinute = Math.floor(now / MINUTE_MS);
    const rows = (Array.isArray(s.rows) ? s.rows : [])
      .filter((row) => Array.isArray(row) && row.length === COLUMNS.length + 1 && row.every((n) => Number.isFinite(n) && n >= 0))
      .filter(([minute]) => Number.isInteger(minute) && minute <= nowMinute && minute > nowMinute - minutes)
      .sort((a, b) => a[0] - b[0]);
    for (const [minute, ...values] of rows) {
      const slot = series.slot(minute);
      COLUMNS.forEach((c, i) => (series.columns[c][slot] = values[i]));
    }
    const last = rows.at(-1);
    if (last) series.waiting = last[1 + COLUMNS.indexOf('queueEnd')];
    const oldest = now - minutes * MINUTE_MS;
    series.pauses = (Array.isArray(s.pauses) ? s.pauses : [])
      .filter((p) => Array.isArray(p) && p.length === 2 && p.every(Number.isFinite) && p[0] <= p[1] && p[1] > oldest && p[0] <= now)
      .map(([from, until]) => [from, until] as [number, number])
      .slice(-MAX_PAUSES);
    return series;
  }

  /** Takes one event of the queue in: a constant amount of work. */
  record(event: UsageEvent): void {
    switch (event.kind) {
      case 'admitted':
        this.add(event.at, { requests: 1, tokens: event.tokens, started: 1, waitedMs: Math.max(0, event.waitedMs) });
        break;
      case 'settled':
        this.add(event.admittedAt, { tokens: event.delta });
        break;
      case 'refunded':
        this.add(event.admittedAt, { requests: -1, tokens: -event.tokens });
        break;
      case 'refused': {
        this.add(event.at, { refusals: 1 });
        const last = this.pauses.at(-1);
        if (last && event.at <= last[1]) last[1] = Math.max(last[1], event.until);
        else this.pauses.push([event.at, Math.max(event.at, event.until)]);
        if (this.pauses.length > MAX_PAUSES) this.pauses.shift();
        break;
      }
      case 'line': {
        const slot = this.slotAt(event.at);
        if (slot < 0) return;
        this.columns.queueMax[slot] = Math.max(this.columns.queueMax[slot], event.waiting);
        this.columns.queueEnd[slot] = event.waiting;
        this.waiting = event.waiting;
        this.changes++;
        break;
      }
    }
  }

  /**
   * Buckets of `step` minutes from `from` up to `to` (clock ms; `from` is rounded down to a minute),
   * each summed (requests, tokens, refusals, pause), the longest (line) or averaged (wait).
   */
  view(from: number, to: number, step = 1): UsageColumns {
    const out: { -readonly [K in keyof UsageColumns]: number[] } = {
      at: [],
      requests: [],
      tokens: [],
      refusals: [],
      pausedMs: [],
      queue: [],
      meanWaitMs: [],
    };
    const first = Math.floor(from / MINUTE_MS);
    const end = Math.ceil(to / MINUTE_MS);
    // The line's length carried in from before the view, then from minute to minute.
    let carry = this.queueBefore(first);
    let pause = this.pauses.findIndex((p) => p[1] > first * MINUTE_MS);
    if (pause < 0) pause = this.pauses.length;
    for (let start = first; start < end; start += step) {
      let requests = 0;
      let tokens = 0;
      let refusals = 0;
      let queue = carry;
      let waited = 0;
      let started = 0;
      for (let minute = start; minute < Math.min(start + step, end); minute++) {
        const slot = this.find(minute);
        if (slot < 0) continue;
        const c = this.columns;
        requests += c.requests[slot];
        tokens += c.tokens[slot];
        refusals += c.refusals[slot];
        queue = Math.max(queue, c.queueMax[slot]);
        waited += c.waitedMs[slot];
        started += c.started[slot];
        carry = c.queueEnd[slot];
      }
      const bucketFrom = start * MINUTE_MS;
      const bucketTo = Math.min(start + step, end) * MINUTE_MS;
      let pausedMs = 0;
      while (pause < this.pauses.length && this.pauses[pause][1] <= bucketFrom) pause++;
      for (let p = pause; p < this.pauses.length && this.pauses[p][0] < bucketTo; p++)
        pausedMs += Math.max(0, Math.min(bucketTo, this.pauses[p][1]) - Math.max(bucketFrom, this.pauses[p][0]));
      out.at.push(bucketFrom);
      out.requests.push(requests);
      out.tokens.push(tokens);
      out.refusals.push(refusals);
      out.pausedMs.push(pausedMs);
      out.queue.push(queue);
      out.meanWaitMs.push(started ? Math.round(waited / started) : 0);
    }
    return out;
  }

  /** The minutes that hold something, for saving. */
  toJSON(): SavedUsage {
    const rows: number[][] = [];
    for (let slot = 0; slot < this.minutes; slot++) {
      const minute = this.stamps[slot];
      if (minute < 0 || minute <= this.latest - this.minutes) continue;
      const values = COLUMNS.map((c) => this.columns[c][slot]);
      if (values.some((v) => v !== 0)) rows.push([minute, ...values]);
    }
    rows.sort((a, b) => a[0] - b[0]);
    return { version: 1, rows, pauses: this.pauses.map(([from, until]) => [from, until]) };
  }

  private add(at: number, change: Partial<Record<Column, number>>): void {
    const slot = this.slotAt(at);
    if (slot < 0) return; // older than the span: already forgotten
    for (const [column, delta] of Object.entries(change) as [Column, number][])
      this.columns[column][slot] = Math.max(0, this.columns[column][slot] + delta);
    this.changes++;
  }

  /** The slot of `at`'s minute, taken over when it held an older minute; -1 when `at` is older than the span. */
  private slotAt(at: number): number {
    return this.slot(Math.floor(at / MINUTE_MS));
  }

  private slot(minute: number): number {
    if (minute <= this.latest - this.minutes) return -1;
    const slot = ((minute % this.minutes) + this.minutes) % this.minutes;
    if (this.stamps[slot] !== minute) {
      if (this.stamps[slot] > minute) return -1;
      this.stamps[slot] = minute;
      for (const c of COLUMNS) this.columns[c][slot] = 0;
      // A minute with no event yet starts with the line as it was.
      this.columns.queueMax[slot] = this.columns.queueEnd[slot] = minute > this.latest ? this.waiting : 0;
    }
    if (minute > this.latest) this.latest = minute;
    return slot;
  }

  private find(minute: number): number {
    const slot = ((minute % this.minutes) + this.minutes) % this.minutes;
    return this.stamps[slot] === minute && minute > this.latest - this.minutes ? slot : -1;
  }

  /** The line's length at the end of the last recorded minute before `minute`, looking back at most an hour. */
  private queueBefore(minute: number): number {
    if (minute > this.latest) return this.waiting;
    for (let m = minute - 1; m >= minute - 60; m--) {
      const slot = this.find(m);
      if (slot >= 0) return this.columns.queueEnd[slot];
    }
    return 0;
  }
}
