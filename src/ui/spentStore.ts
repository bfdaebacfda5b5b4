import * as vscode from 'vscode';
import { Ledger, MemoryLedger, Spend } from '../core/ledger';

const KEY = 'kimiBudget.spent';
/** What is kept across a reload: the spends that can still count against a per-minute limit. */
const KEEP_MS = 61_000;

/**
 * Keeps this minute's spends in the extension's global state, so that a window reload does not
 * forget what was sent a moment ago and overspend the server's minute.
 */
export class SpentStore implements vscode.Disposable {
  private timer: NodeJS.Timeout | undefined;
  private pending: (() => void) | undefined;

  constructor(private readonly state: vscode.Memento) {}

  restore(now: number): MemoryLedger {
    const saved = this.state.get<unknown>(KEY);
    const spends = Array.isArray(saved) ? saved.filter(isSpend).filter((s) => s.at > now - KEEP_MS && s.at <= now) : [];
    return new MemoryLedger(spends);
  }

  /** Saves soon; a burst of changes makes one write. */
  save(ledger: Ledger, now: () => number): void {
    if (this.timer) return;
    this.pending = () => {
      this.timer = undefined;
      this.pending = undefined;
      const recent = ledger.since(now() - KEEP_MS).map(({ at, requests, tokens }) => ({ at, requests, tokens }));
      void this.state.update(KEY, recent);
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
