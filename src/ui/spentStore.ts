import type * as vscode from 'vscode';
import { DEFAULT_BUDGET_OPTIONS } from '../core/budget';
import { Ledger, MemoryLedger, Spend, spendsToKeep } from '../core/ledger';

const KEY = 'kimiBudget.spent';
/** Spends that can still count against a per-minute limit are kept one by one, those that can count against a per-day limit summed per minute. */
const SPANS = {
  minuteMs: DEFAULT_BUDGET_OPTIONS.windowMs + DEFAULT_BUDGET_OPTIONS.marginMs,
  dayMs: DEFAULT_BUDGET_OPTIONS.dayMs + DEFAULT_BUDGET_OPTIONS.marginMs,
};
const DAY_MS = SPANS.dayMs + 500;

/**
 * Keeps the day's spends in the extension's global state, so that a window reload neither forgets
 * what was sent a moment ago and overspends the server's minute, nor forgets the day and overspends
 * a per-day limit.
 */
export class SpentStore implements vscode.Disposable {
  private timer: NodeJS.Timeout | undefined;
  private pending: (() => void) | undefined;

  constructor(private readonly state: vscode.Memento) {}

  restore(now: number): MemoryLedger {
    const saved = this.state.get<unknown>(KEY);
    const spends = Array.isArray(saved) ? saved.filter(isSpend).filter((s) => s.at > now - DAY_MS && s.at <= now) : [];
    return new MemoryLedger(spends);
  }

  /** Saves soon; a burst of changes makes one write. */
  save(ledger: Pick<Ledger, 'since'>, now: () => number): void {
    if (this.timer) return;
    this.pending = () => {
      this.timer = undefined;
      this.pending = undefined;
      void this.state.update(KEY, spendsToKeep(ledger, now(), SPANS));
    };
    this.timer = setTimeout(this.pending, 1_000);
  }

  /** On the way out, a save still waiting is made at once. */
  dispose(): void {
    clearTimeout(this.timer);
    this.pending?.();
  }
}

function isSpend(value: unknown): value is Omit<Spend, 'id'> {
  const s = value as Spend;
  return [s?.at, s?.requests, s?.tokens].every((n) => typeof n === 'number' && Number.isFinite(n) && n >= 0);
}
