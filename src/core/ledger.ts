/**
 * What was spent, and when. Kept behind this small interface so that the record can be shared
 * between windows and machines; the budget only appends, corrects and asks it questions, each
 * answered without a scan of every spend (a busy account's day holds a great many).
 */
export interface Spend {
  /** Unique across every window and machine that shares the account. */
  readonly id: string;
  /** When the units were taken (clock milliseconds). */
  readonly at: number;
  readonly requests: number;
  readonly tokens: number;
  /** The window that spent it, when known. */
  readonly holder?: string;
}

export type SpendKey = 'requests' | 'tokens';

export interface Ledger {
  /**
   * Records a spend. A spend whose id is already there is merged, never counted twice: the later
   * time and the larger cost are kept (a spend is never made cheaper or earlier by a merge).
   */
  record(spend: Spend): void;
  /** Corrects an earlier spend: its tokens (a settle) or its time (admitted later than sent); unknown ids are ignored. */
  correct(id: string, change: { tokens?: number; at?: number }): void;
  /** Takes back a spend the server never counted (its request never left); unknown ids are ignored. */
  remove(id: string): void;
  get(id: string): Spend | undefined;
  /** The sum of `key` over spends taken after `after`. */
  total(key: SpendKey, after: number): number;
  /**
   * Milliseconds from `now` until `cost` more of `key` fits under `capacity`, counting the spends
   * taken after `now - span` (each comes back `span` after it was taken) and `extra` ones (later
   * than any recorded, oldest first; for plans). Infinity if it can never fit.
   */
  timeUntilRoom(now: number, span: number, key: SpendKey, capacity: number, cost: number, extra?: readonly Spend[]): number;
  /** The oldest spend taken after `after`. */
  oldestAfter(after: number): Spend | undefined;
  /** Spends taken after `since`, oldest first (a copy; meant for short spans or for saving). */
  since(since: number): Spend[];
  /** Forgets spends taken at or before `before`. */
  prune(before: number): void;
  /** Forgets every spend. */
  clear(): void;
  readonly size: number;
}

let generated = 0;
/** An id no other window picks: a random part per process, a counter within it. */
const PROCESS_PART = Math.random().toString(36).slice(2, 10);
export function newSpendId(): string {
  return `${PROCESS_PART}-${(++generated).toString(36)}`;
}

/**
 * Spends in time order with running sums, so that every question is a binary search. New spends
 * and corrections land at or near the end (recent spends), which keeps inserts cheap.
 */
export class MemoryLedger implements Ledger {
  private spends: Spend[] = [];
  /** cum[key][i]: the sum of `key` over spends[0..i). */
  private cum: Record<SpendKey, number[]> = { requests: [0], tokens: [0] };
  private head = 0;
  private readonly byId = new Map<string, Spend>();

  /** `earlier`: spends kept from a previous run (a window reload), in any order. */
  constructor(earlier: readonly (Omit<Spend, 'id'> & { id?: string })[] = []) {
    for (const spend of [...earlier].sort((a, b) => a.at - b.at)) this.record({ ...spend, id: spend.id ?? newSpendId() });
  }

  get size(): number {
    return this.spends.length - this.head;
  }

  record(spend: Spend): void {
    const known = this.byId.get(spend.id);
    if (known) {
      if (spend.at > known.at || spend.tokens > known.tokens || spend.requests > known.requests)
        this.replace(known, {
          ...known,
          at: Math.max(known.at, spend.at),
          tokens: Math.max(known.tokens, spend.tokens),
          requests: Math.max(known.requests, spend.requests),
        });
      return;
    }
    this.insert(spend);
  }

  correct(id: string, change: { tokens?: number; at?: number }): void {
    const spend = this.byId.get(id);
    if (spend) this.replace(spend, { ...spend, ...change });
  }

  remove(id: string): void {
    const spend = this.byId.get(id);
    if (!spend) return;
    const i = this.indexOf(spend);
    this.spends.splice(i, 1);
    this.byId.delete(id);
    this.resum(i);
  }

  get(id: string): Spend | undefined {
    return this.byId.get(id);
  }

  total(key: SpendKey, after: number): number {
    const c = this.cum[key];
    return c[this.spends.length] - c[this.firstAfter(after)];
  }

  timeUntilRoom(now: number, span: number, key: SpendKey, capacity: number, cost: number, extra: readonly Spend[] = []): number {
    const from = this.firstAfter(now - span);
    const c = this.cum[key];
    const recorded = c[this.spends.length] - c[from];
    const later = extra.filter((s) => s.at > now - span);
    let excess = recorded + later.reduce((sum, s) => sum + s[key], 0) + cost - capacity;
    if (excess <= 0) return 0;
    if (recorded >= excess) {
      // The first spend whose return frees enough: the least j with c[j + 1] - c[from] >= excess.
      let lo = from;
      let hi = this.spends.length - 1;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (c[mid + 1] - c[from] >= excess) hi = mid;
        else lo = mid + 1;
      }
      return this.spends[lo].at + span - now;
    }
    excess -= recorded;
    for (const spend of later) {
      excess -= spend[key];
      if (excess <= 0) return spend.at + span - now;
    }
    return Infinity;
  }

  oldestAfter(after: number): Spend | undefined {
    return this.spends[this.firstAfter(after)];
  }

  since(since: number): Spend[] {
    return this.spends.slice(this.firstAfter(since));
  }

  prune(before: number): void {
    const keep = this.firstAfter(before);
    for (let i = this.head; i < keep; i++) this.byId.delete(this.spends[i].id);
    this.head = keep;
    // Pruned spends are dropped in bulk, now and then: the sums stay valid as they are.
    if (this.head > 1024 && this.head * 2 > this.spends.length) {
      this.spends = this.spends.slice(this.head);
      this.head = 0;
      this.resum(0);
    }
  }

  clear(): void {
    this.spends = [];
    this.head = 0;
    this.byId.clear();
    this.resum(0);
  }

  private replace(old: Spend, spend: Spend): void {
    const i = this.indexOf(old);
    this.spends.splice(i, 1);
    this.byId.delete(old.id);
    if (spend.at === old.at) {
      this.spends.splice(i, 0, spend);
      this.byId.set(spend.id, spend);
      this.resum(i);
    } else {
      this.resum(i);
      this.insert(spend);
    }
  }

  /** Appends are in time order in practice; a late or moved one is put in its place. */
  private insert(spend: Spend): void {
    let i = this.spends.length;
    while (i > this.head && this.spends[i - 1].at > spend.at) i--;
    this.spends.splice(i, 0, spend);
    this.byId.set(spend.id, spend);
    this.resum(i);
  }

  private indexOf(spend: Spend): number {
    let lo = this.head;
    let hi = this.spends.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.spends[mid].at < spend.at) lo = mid + 1;
      else hi = mid;
    }
    while (this.spends[lo] !== spend) {
      if (lo >= this.spends.length) throw new Error('ledger: a known spend is not in its place');
      lo++;
    }
    return lo;
  }

  /** Recomputes the running sums from index `i` on (cheap: changes are near the end). */
  private resum(i: number): void {
    for (const key of ['requests', 'tokens'] as const) {
      const c = this.cum[key];
      c.length = this.spends.length + 1;
      if (i === 0) c[0] = 0;
      for (let j = i; j < this.spends.length; j++) c[j + 1] = c[j] + this.spends[j][key];
    }
  }

  private firstAfter(t: number): number {
    return firstAfter(this.spends, t, this.head);
  }
}

/** Index of the first spend taken after `t` in a time-sorted list, from `lo` on. */
export function firstAfter(spends: readonly Spend[], t: number, lo = 0): number {
  let hi = spends.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (spends[mid].at <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * The spends to keep across a reload, bounded however many a day holds: those after `exactSince`
 * as they are (a per-minute limit needs each), older ones after `since` summed per minute of
 * `bucketMs`, each sum dated at its latest spend. Moving a spend later only keeps its units spent
 * longer, so a per-day limit is never overspent on what is kept. A sum's id names its minute, so
 * that two windows keeping the same minute merge it rather than count it twice. Oldest first.
 */
export function keptSpends(spends: readonly Spend[], since: number, exactSince: number, bucketMs = 60_000): Spend[] {
  const buckets = new Map<number, Spend>();
  const exact: Spend[] = [];
  for (const spend of spends) {
    const { at, requests, tokens } = spend;
    if (at <= since) continue;
    if (at > exactSince) {
      exact.push(spend);
      continue;
    }
    const key = Math.floor(at / bucketMs);
    const bucket = buckets.get(key);
    buckets.set(
      key,
      bucket
        ? { id: bucket.id, at: Math.max(bucket.at, at), requests: bucket.requests + requests, tokens: bucket.tokens + tokens }
        : { id: `minute-${key}`, at, requests, tokens },
    );
  }
  return [...buckets.values(), ...exact].sort((a, b) => a.at - b.at);
}

/**
 * What of a ledger to keep (across a reload, or to start another window's copy): the spends that
 * can still count against a per-day limit at `now`, bounded as `keptSpends` says, for windows of
 * `minuteMs` and `dayMs` (each plus its margin and half a second of slack).
 */
export function spendsToKeep(ledger: Pick<Ledger, 'since'>, now: number, spans: { minuteMs: number; dayMs: number }): Spend[] {
  const since = now - spans.dayMs - 500;
  return keptSpends(ledger.since(since), since, now - spans.minuteMs - 500);
}
