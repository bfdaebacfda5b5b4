import { AccountSnapshot, AccountStore, LineTicket, LineWait, MemoryAccountStore } from '../core/account';
import { Admission, Exceeded, SharedLimit } from '../core/budget';
import { Emitter, Event } from '../core/event';
import { Ledger } from '../core/ledger';
import { LearnedLimit, Limits } from '../core/limits';

/** A store that can be let go of. */
export interface DisposableStore extends AccountStore {
  /** The spends of the account this store knows, to keep across a reload. */
  readonly ledger: Pick<Ledger, 'since'>;
  dispose(): void;
}

/**
 * The account this window sends for, which changes when the key or the base URL does. Waiting sends
 * move to the new account's line at once; a running one ends with the account that admitted it,
 * which is let go once nothing of this window runs there.
 */
export class AccountSwitch implements AccountStore {
  private current: DisposableStore;
  private identity: string;
  private readonly changed = new Emitter<void>();
  readonly onDidChange: Event<void> = this.changed.event;
  private subscription: { dispose(): void };
  private readonly mine = new Map<string, Omit<LineTicket, 'holder'>>();
  /** Where each running admission was made, and the stores kept for them. */
  private readonly admittedBy = new Map<string, DisposableStore>();
  private ownLimits: Limits;

  constructor(
    identity: string,
    limits: Limits,
    private readonly open: (identity: string, limits: Limits) => DisposableStore,
  ) {
    this.identity = identity;
    this.ownLimits = limits;
    this.current = open(identity, limits);
    this.subscription = this.current.onDidChange(() => this.changed.fire());
  }

  get store(): DisposableStore {
    return this.current;
  }

  get holder(): string {
    return this.current.holder;
  }

  /** Moves to another account (a new key or base URL); nothing when it is the same. */
  switchTo(identity: string): void {
    if (identity === this.identity) return;
    const old = this.current;
    this.subscription.dispose();
    for (const id of this.mine.keys()) old.leave(id);
    this.identity = identity;
    this.current = this.open(identity, this.ownLimits);
    this.subscription = this.current.onDidChange(() => this.changed.fire());
    for (const ticket of this.mine.values()) this.current.join(ticket);
    this.letGo(old);
    this.changed.fire();
  }

  get limits(): Limits {
    return this.current.limits;
  }

  get tickets(): readonly LineTicket[] {
    return this.current.tickets;
  }

  setLimits(limits: Limits): void {
    this.ownLimits = limits;
    this.current.setLimits(limits);
  }

  exceeds(tokens: number): Exceeded | undefined {
    return this.current.exceeds(tokens);
  }

  join(ticket: Omit<LineTicket, 'holder'>): void {
    this.mine.set(ticket.id, ticket);
    this.current.join(ticket);
  }

  leave(id: string): void {
    this.mine.delete(id);
    this.current.leave(id);
  }

  waitFor(ticket: string, tokens: number): LineWait {
    return this.current.waitFor(ticket, tokens);
  }

  tryAdmit(ticket: string, tokens: number, spendId: string): Admission | undefined {
    const admission = this.current.tryAdmit(ticket, tokens, spendId);
    if (admission) {
      this.mine.delete(ticket);
      this.admittedBy.set(admission.spendId, this.current);
    }
    return admission;
  }

  settle(admission: Admission, tokens: number): void {
    this.storeOf(admission).settle(admission, tokens);
  }

  confirm(admission: Admission): void {
    this.storeOf(admission).confirm(admission);
  }

  refund(admission: Admission): void {
    this.storeOf(admission).refund(admission);
    this.ended(admission);
  }

  release(admission: Admission): void {
    this.storeOf(admission).release(admission);
    this.ended(admission);
  }

  learnRefusal(limit: SharedLimit): void {
    this.current.learnRefusal(limit);
  }

  learnLimit(learned: LearnedLimit): void {
    this.current.learnLimit(learned);
  }

  forgetLearned(): void {
    this.current.forgetLearned();
  }

  dayFreesIn(tokens: number): number {
    return this.current.dayFreesIn(tokens);
  }

  plan(notBefore: number): Map<string, number | undefined> {
    return this.current.plan(notBefore);
  }

  snapshot(): AccountSnapshot {
    return this.current.snapshot();
  }

  dispose(): void {
    this.subscription.dispose();
    for (const store of new Set([this.current, ...this.admittedBy.values()])) store.dispose();
    this.changed.dispose();
  }

  private storeOf(admission: Admission): AccountStore {
    return this.admittedBy.get(admission.spendId) ?? this.current;
  }

  private ended(admission: Admission): void {
    const store = this.admittedBy.get(admission.spendId);
    this.admittedBy.delete(admission.spendId);
    if (store && store !== this.current) this.letGo(store);
  }

  private letGo(store: DisposableStore): void {
    if (![...this.admittedBy.values()].includes(store)) store.dispose();
  }
}

/**
 * The account before it is known (the key not read yet, a few tens of milliseconds): it holds what
 * this window kept, which may be older than what the account's record holds, so it admits nothing
 * and promises no time. Sends made meanwhile wait, and move to the account once it opens.
 */
export class OpeningAccountStore extends MemoryAccountStore implements DisposableStore {
  override waitFor(): LineWait {
    return { ms: Infinity, limit: null };
  }

  override tryAdmit(): undefined {
    return undefined;
  }

  override plan(): Map<string, number | undefined> {
    return new Map(this.tickets.map((t) => [t.id, undefined]));
  }
}
