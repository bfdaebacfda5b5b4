import type * as vscode from 'vscode';
import { AnswerStats } from '../core/answerStats';
import { UsageSeries } from '../core/usageSeries';

const SERIES_KEY = 'kimiBudget.usage';
const STATS_KEY = 'kimiBudget.answerStats';
/** Changes within this span make one write: the series changes with every send. */
const SAVE_DELAY_MS = 5_000;

/**
 * Keeps the dashboard's data (the per-minute usage series and the answers' costs and counts) in the
 * extension's global state, so that a reload keeps the month. Nothing of it leaves this machine.
 */
export class UsageStore implements vscode.Disposable {
  private timer: NodeJS.Timeout | undefined;
  readonly series: UsageSeries;
  readonly stats: AnswerStats;

  constructor(
    private readonly state: vscode.Memento,
    now: number,
    dayOffsetMs: number,
  ) {
    this.series = UsageSeries.restore(state.get<unknown>(SERIES_KEY), now);
    this.stats = AnswerStats.restore(state.get<unknown>(STATS_KEY), now, dayOffsetMs);
  }

  /** Saves soon; a burst of changes makes one write. */
  save(): void {
    this.timer ??= setTimeout(() => this.write(), SAVE_DELAY_MS);
  }

  /** On the way out, a save still waiting is made at once. */
  dispose(): void {
    if (this.timer) this.write();
  }

  private write(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    void this.state.update(SERIES_KEY, this.series.toJSON());
    void this.state.update(STATS_KEY, this.stats.toJSON());
  }
}
