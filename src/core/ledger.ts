/**
 * What was spent, and when. Kept behind this small interface so that the record can later be
 * shared between windows and machines; the budget only appends, corrects and reads it.
 */
export interface Spend {
  readonly id: number;
  /** When the units were taken (clock milliseconds). */
  readonly at: number;
  readonly requests: number;
  readonly tokens: number;
}

export interface Ledger {
  /** Records a spend and returns its id. */
  record(at: number, requests: number, tokens: number): number;
  /** Corrects an earlier spend: its tokens (a settle) or its time (admitted later than sent); unknown ids are ignored. */
  correct(id: number, change: { tokens?: number; at?: number }): void;
  /** Takes back a spend the server never counted (its request never left); unknown ids are ignored. */
  remove(id: number): void;
  /** Spends taken after `since`, oldest first. */
  since(since: number): readonly Spend[];
  /** Forgets spends taken at or before `before`. */
  prune(before: number): void;
}

export class MemoryLedger implements Ledger {
  private spends: Spend[] = [];
  private nextId = 1;

  /** `earlier`: spends kept from a previous run (a window reload), in any order. */
  constructor(earlier: readonly Omit<Spend, 'id'>[] = []) {
    for (const { at, requests, tokens } of earlier) this.record(at, requests, tokens);
  }

  record(at: number, requests: number, tokens: number): number {
    const spend = { id: this.nextId++, at, requests, tokens };
    this.insert(spend);
    return spend.id;
  }

  correct(id: number, change: { tokens?: number; at?: number }): void {
    const i = this.spends.findIndex((s) => s.id === id);
    if (i < 0) return;
    const [spend] = this.spends.splice(i, 1);
    this.insert({ ...spend, ...change });
  }

  remove(id: number): void {
    const i = this.spends.findIndex((s) => s.id === id);
    if (i >= 0) this.spends.splice(i, 1);
  }

  /** Appends are in time order in practice; a late or moved one is put in its place. */
  private insert(spend: Spend): void {
    let i = this.spends.length;
    while (i > 0 && this.spends[i - 1].at > spend.at) i--;
    this.spends.splice(i, 0, spend);
  }

  since(since: number): readonly Spend[] {
    return this.spends.slice(this.firstAfter(since));
  }

  prune(before: number): void {
    const keep = this.firstAfter(before);
    if (keep > 0) this.spends = this.spends.slice(keep);
  }

  private firstAfter(t: number): number {
    return firstAfter(this.spends, t);
  }
}

/** Index of the first spend taken after `t` in a time-sorted list. */
export function firstAfter(spends: readonly Spend[], t: number): number {
  let lo = 0;
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
 * longer, so a per-day limit is never overspent on what is kept. Oldest first.
 */
export function keptSpends(spends: readonly Spend[], since: number, exactSince: number, bucketMs = 60_000): Omit<Spend, 'id'>[] {
  const buckets = new Map<number, { at: number; requests: number; tokens: number }>();
  const exact: Omit<Spend, 'id'>[] = [];
  for (const { at, requests, tokens } of spends) {
    if (at <= since) continue;
    if (at > exactSince) {
      exact.push({ at, requests, tokens });
      continue;
    }
    const key = Math.floor(at / bucketMs);
    const bucket = buckets.get(key);
    if (bucket)
      Object.assign(bucket, { at: Math.max(bucket.at, at), requests: bucket.requests + requests, tokens: bucket.tokens + tokens });
    else buckets.set(key, { at, requests, tokens });
  }
  return [...buckets.values(), ...exact].sort((a, b) => a.at - b.at);
}
