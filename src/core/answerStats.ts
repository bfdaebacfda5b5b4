// What the answers cost, day by day and model by model, and how far the local token estimate was
// from the server's count. Bounded: a year of days, the last answers of each model.

export const DAY_MS = 86_400_000;
export const DEFAULT_COST_DAYS = 365;
/** Answers remembered per model for the estimate's accuracy. */
export const DEFAULT_ACCURACY_ANSWERS = 50;
/** Models remembered (the line-up rotates; the least recently answered go first). */
const MAX_MODELS = 50;

export interface AnswerRecord {
  readonly at: number;
  readonly model: string;
  /** Undefined when the model has no known price. */
  readonly costUsd: number | undefined;
  /** The prompt tokens counted before sending (calibrated estimate). */
  readonly estimatedTokens: number;
  /** The server's `usage.prompt_tokens`. */
  readonly serverTokens: number;
}

export interface DayCost {
  /** Start of the (local) day, in clock ms. */
  readonly day: number;
  readonly usd: number;
  readonly answers: number;
}

export interface ModelCost {
  readonly model: string;
  readonly usd: number;
  readonly answers: number;
  /** Answers from this model with no known price: `usd` is a lower bound when above 0. */
  readonly unpriced: number;
}

export interface ModelAccuracy {
  readonly model: string;
  readonly answers: number;
  /** Mean of (estimate − server) / server over the answers kept, in percent. */
  readonly meanErrorPercent: number;
  /** Mean of |estimate − server| / server, in percent. */
  readonly meanAbsoluteErrorPercent: number;
  /** Oldest first. */
  readonly last: readonly { readonly at: number; readonly estimated: number; readonly server: number }[];
}

/** The stats as saved. */
export interface SavedAnswerStats {
  readonly version: 1;
  /** [day number, model, usd, answers, unpriced]. */
  readonly days: [number, string, number, number, number][];
  /** model → [at, estimated, server][] */
  readonly accuracy: Record<string, [number, number, number][]>;
}

interface DayEntry {
  usd: number;
  answers: number;
  unpriced: number;
}

export class AnswerStats {
  /** day number → model → entry; days in increasing order. */
  private readonly days = new Map<number, Map<string, DayEntry>>();
  private readonly accuracy = new Map<string, [number, number, number][]>();
  private changes = 0;

  /**
   * `dayOffsetMs`: added to a time before cutting it into days, so that days start at local
   * midnight (minus the time zone's offset from UTC, in ms: UTC+2 gives 7,200,000).
   */
  constructor(
    private readonly dayOffsetMs = 0,
    private readonly keepDays = DEFAULT_COST_DAYS,
    private readonly keepAnswers = DEFAULT_ACCURACY_ANSWERS,
  ) {}

  get version(): number {
    return this.changes;
  }

  static restore(saved: unknown, now: number, dayOffsetMs = 0, keepDays = DEFAULT_COST_DAYS): AnswerStats {
    const stats = new AnswerStats(dayOffsetMs, keepDays);
    const s = saved as Partial<SavedAnswerStats> | undefined;
    if (s?.version !== 1) return stats;
    const today = stats.dayOf(now);
    const days = (Array.isArray(s.days) ? s.days : [])
      .filter(
        (d) =>
          Array.isArray(d) &&
          Number.isInteger(d[0]) &&
          d[0] <= today &&
          d[0] > today - keepDays &&
          typeof d[1] === 'string' &&
          [d[2], d[3], d[4]].every((n) => Number.isFinite(n) && n >= 0),
      )
      .sort((a, b) => a[0] - b[0]);
    for (const [day, model, usd, answers, unpriced] of days) {
      const entry = stats.entry(day, model);
      entry.usd += usd;
      entry.answers += answers;
      entry.unpriced += unpriced;
    }
    for (const [model, rows] of Object.entries(s.accuracy ?? {})) {
      if (!Array.isArray(rows)) continue;
      const kept = rows.filter((r) => Array.isArray(r) && r.length === 3 && r.every(Number.isFinite) && r[1] >= 0 && r[2] > 0);
      if (kept.length)
        stats.accuracy.set(
          model,
          kept.slice(-stats.keepAnswers).map(([a, e, v]) => [a, e, v]),
        );
    }
    return stats;
  }

  record(answer: AnswerRecord): void {
    const entry = this.entry(this.dayOf(answer.at), answer.model);
    entry.answers++;
    if (answer.costUsd === undefined) entry.unpriced++;
    else entry.usd += answer.costUsd;
    if (answer.serverTokens > 0 && answer.estimatedTokens >= 0) {
      const rows = this.accuracy.get(answer.model) ?? [];
      this.accuracy.delete(answer.model); // re-inserted last: the most recently answered model
      rows.push([answer.at, answer.estimatedTokens, answer.serverTokens]);
      if (rows.length > this.keepAnswers) rows.shift();
      this.accuracy.set(answer.model, rows);
      if (this.accuracy.size > MAX_MODELS) this.accuracy.delete(this.accuracy.keys().next().value!);
    }
    this.bound();
    this.changes++;
  }

  /** Cost per day for the `count` days up to and including `now`'s, oldest first; days without answers cost 0. */
  costPerDay(now: number, count = 30): DayCost[] {
    const today = this.dayOf(now);
    const out: DayCost[] = [];
    for (let day = today - count + 1; day <= today; day++) {
      let usd = 0;
      let answers = 0;
      for (const e of this.days.get(day)?.values() ?? []) {
        usd += e.usd;
        answers += e.answers;
      }
      out.push({ day: day * DAY_MS - this.dayOffsetMs, usd, answers });
    }
    return out;
  }

  /** Cost per model over the `count` days up to `now`'s, most expensive first. */
  costPerModel(now: number, count = 30): ModelCost[] {
    const today = this.dayOf(now);
    const sums = new Map<string, { usd: number; answers: number; unpriced: number }>();
    for (const [day, models] of this.days) {
      if (day <= today - count || day > today) continue;
      for (const [model, e] of models) {
        const s = sums.get(model) ?? { usd: 0, answers: 0, unpriced: 0 };
        s.usd += e.usd;
        s.answers += e.answers;
        s.unpriced += e.unpriced;
        sums.set(model, s);
      }
    }
    return [...sums].map(([model, s]) => ({ model, ...s })).sort((a, b) => b.usd - a.usd || a.model.localeCompare(b.model));
  }

  /** Per model (most recently answered first), how far the estimate was from the server's count. */
  estimateAccuracy(): ModelAccuracy[] {
    return [...this.accuracy].reverse().map(([model, rows]) => {
      const errors = rows.map(([, estimated, server]) => (estimated - server) / server);
      const mean = (xs: number[]) => (100 * xs.reduce((a, b) => a + b, 0)) / xs.length;
      return {
        model,
        answers: rows.length,
        meanErrorPercent: mean(errors),
        meanAbsoluteErrorPercent: mean(errors.map(Math.abs)),
        last: rows.map(([at, estimated, server]) => ({ at, estimated, server })),
      };
    });
  }

  toJSON(): SavedAnswerStats {
    const days: SavedAnswerStats['days'] = [];
    for (const [day, models] of this.days) for (const [model, e] of models) days.push([day, model, e.usd, e.answers, e.unpriced]);
    return {
      version: 1,
      days,
      accuracy: Object.fromEntries([...this.accuracy].map(([m, rows]) => [m, rows.map((r) => [...r] as [number, number, number])])),
    };
  }

  private dayOf(at: number): number {
    return Math.floor((at + this.dayOffsetMs) / DAY_MS);
  }

  private entry(day: number, model: string): DayEntry {
    let models = this.days.get(day);
    if (!models) this.days.set(day, (models = new Map()));
    let entry = models.get(model);
    if (!entry) models.set(model, (entry = { usd: 0, answers: 0, unpriced: 0 }));
    return entry;
  }

  /** Forgets the days older than the span kept, counted from the newest day. */
  private bound(): void {
    const newest = Math.max(...this.days.keys());
    for (const day of this.days.keys()) if (day <= newest - this.keepDays) this.days.delete(day);
  }
}
