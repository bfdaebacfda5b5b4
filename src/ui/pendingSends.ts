import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';

const KEY = 'kimiBudget.pendingSends';

/** A send not yet answered, as much of it as is needed to send it again (never the key). */
export interface PendingAsk {
  readonly id: string;
  /** The conversation it continues, if it is a follow-up. */
  readonly conversationId?: string;
  readonly prompt: string;
  readonly typed: string;
  readonly at: number;
}

/**
 * Sends that are queued or under way, kept in the extension's global state so that a window reload
 * or a crash of the extension host does not lose them: the next activation offers them again.
 */
export class PendingSends {
  private readonly current: PendingAsk[] = [];
  /** What the previous window left unsent; kept saved until the user decides about it. */
  private undecided: PendingAsk[];

  constructor(private readonly state: vscode.Memento) {
    const saved = state.get<unknown>(KEY);
    this.undecided = Array.isArray(saved) ? saved.filter(isPendingAsk) : [];
  }

  get leftover(): readonly PendingAsk[] {
    return this.undecided;
  }

  /** The user sent the leftover again, or let it go. */
  decided(): void {
    this.undecided = [];
    this.save();
  }

  add(ask: Omit<PendingAsk, 'id' | 'at'>): string {
    const pending = { ...ask, id: randomUUID(), at: Date.now() };
    this.current.push(pending);
    this.save();
    return pending.id;
  }

  remove(id: string): void {
    const i = this.current.findIndex((p) => p.id === id);
    if (i < 0) return;
    this.current.splice(i, 1);
    this.save();
  }

  private save(): void {
    void this.state.update(KEY, [...this.undecided, ...this.current]);
  }
}

function isPendingAsk(value: unknown): value is PendingAsk {
  const p = value as PendingAsk;
  return (
    typeof p?.id === 'string' &&
    typeof p.prompt === 'string' &&
    typeof p.typed === 'string' &&
    typeof p.at === 'number' &&
    (p.conversationId === undefined || typeof p.conversationId === 'string')
  );
}
