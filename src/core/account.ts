import { Admission, Budget, BudgetOptions, BudgetSnapshot, DEFAULT_BUDGET_OPTIONS, Exceeded, SharedLimit } from './budget';
import { Clock } from './clock';
import { Emitter, Event } from './event';
import { Ledger, MemoryLedger, Spend, spendsToKeep } from './ledger';
import { LEARNED_FOR_MS, LearnedLimit, LimitName, Limits, LIMIT_NAMES, withLearned } from './limits';

/** A send waiting in the account's line. */
export interface LineTicket {
  readonly id: string;
  /** The window it waits in. */
  readonly holder: string;
  readonly tokens: number;
  /** Its place: when it was first queued (a retried send keeps it, and so goes before later ones). */
  readonly order: number;
}

/** What holds a waiting send back: a limit, or sends of other windows ahead of it in the account's line. */
export interface LineWait {
  readonly ms: number;
  readonly limit: LimitName | 'line' | null;
}

export interface AccountSnapshot extends BudgetSnapshot {
  /** Requests and tokens of the minute spent by this window, and by the account's other windows. */
  readonly spentBy: { readonly here: { requests: number; tokens: number }; readonly others: { requests: number; tokens: number } };
  /** How many windows share the account now, this one included. */
  readonly windows: number;
  /** Set when the windows' settings disagree: the smallest of each limit is the account's. */
  readonly limitsDiffer: boolean;
  /** This window's own settings. */
  readonly ownLimits: Limits;
  /** How the account's budget is kept: by this window alone, or shared with the other windows here. */
  readonly sharing: 'alone' | 'shared' | 'degraded' | 'team';
  /** When a team shares the budget through Redis: whether it is reached, and the teammates' part of the minute. */
  readonly team?: {
    readonly connected: boolean;
    /** Windows of every member that share the budget now, this one included. */
    readonly members: number;
    readonly teammates: { requests: number; tokens: number };
    readonly problem?: string;
  };
  /** Why sharing degraded, when it did. */
  readonly sharingProblem?: string;
  /** The limits the server stated in refusals, in force now (they apply where smaller than the settings). */
  readonly learned?: readonly LearnedLimit[];
}

/**
 * The budget of one account, as every window that uses it sees it: the spends, the slots taken,
 * the line of waiting sends and each window's limits. Every change is one of the `AccountOp`s below,
 * applied in the same order everywhere, so that a copy fed the same ops is the same state.
 */
export type AccountOp =
  | { readonly op: 'join'; readonly ticket: LineTicket }
  | { readonly op: 'leave'; readonly id: string }
  | { readonly op: 'admit'; readonly ticket: string; readonly spend: Spend }
  | { readonly op: 'settle'; readonly id: string; readonly tokens: number }
  | { readonly op: 'confirm'; readonly id: string; readonly at: number }
  | { readonly op: 'refund'; readonly id: string }
  | { readonly op: 'release'; readonly id: string }
  | { readonly op: 'refusal'; readonly limit: SharedLimit; readonly at: number }
  | { readonly op: 'limits'; readonly holder: string; readonly limits: Limits }
  /** A limit the server stated: it applies at once, to every window, where smaller than the settings. */
  | { readonly op: 'learned'; readonly learned: LearnedLimit }
  /** Every learned limit is let go (a top-up, a new tier). */
  | { readonly op: 'forget' }
  /** A window closed, crashed or stopped answering: its waiting sends leave the line and its slots return; its spends stay spent. */
  | { readonly op: 'gone'; readonly holder: string };

/** The whole state, to start a copy from. */
export interface AccountImage {
  readonly spends: readonly Spend[];
  readonly running: readonly Spend[];
  readonly line: readonly LineTicket[];
  readonly limits: readonly { holder: string; limits: Limits }[];
  readonly cuts: ReturnType<Budget['cutsImage']>;
  readonly learned?: readonly LearnedLimit[];
}

export class AccountState {
  private line: LineTicket[] = [];
  private readonly declared = new Map<string, Limits>();
  private readonly learnedLimits = new Map<LimitName, LearnedLimit>();
  /** The limits last given to the budget, to notice when a learned one lapses. */
  private applied = '';
  private lastApplied: Limits | undefined;
  /** With no window's settings declared (a budget whose owner sets its limits), the limits its owner set last. */
  private base: Limits | undefined;

  constructor(
    private readonly clock: Clock,
    readonly budget: Budget,
  ) {}

  private get options(): BudgetOptions {
    return this.budget.options;
  }

  apply(op: AccountOp): void {
    switch (op.op) {
      case 'join':
        this.line = this.line.filter((t) => t.id !== op.ticket.id);
        this.line.splice(this.placeOf(op.ticket), 0, op.ticket);
        return;
      case 'leave':
        this.line = this.line.filter((t) => t.id !== op.id);
        return;
      case 'admit':
        this.line = this.line.filter((t) => t.id !== op.ticket);
        this.budget.take(op.spend);
        return;
      case 'settle':
        this.budget.settle(this.admissionOf(op.id), op.tokens);
        return;
      case 'confirm':
        this.budget.confirmAt(op.id, op.at);
        return;
      case 'refund':
        this.budget.refund(this.admissionOf(op.id));
        return;
      case 'release':
        this.budget.release(this.admissionOf(op.id));
        return;
      case 'refusal':
        this.budget.learnRefusal(op.limit, op.at);
        return;
      case 'limits':
        this.declared.set(op.holder, op.limits);
        this.refreshLimits(true);
        return;
      case 'learned':
        this.learnedLimits.set(op.learned.limit, op.learned);
        this.refreshLimits(true);
        return;
      case 'forget':
        this.learnedLimits.clear();
        this.refreshLimits(true);
        return;
      case 'gone':
        this.line = this.line.filter((t) => t.holder !== op.holder);
        for (const id of this.budget.slotsOf(op.holder)) this.budget.release(this.admissionOf(id));
        if (this.declared.delete(op.holder) && this.declared.size) this.refreshLimits(true);
        return;
    }
  }

  /**
   * The account's limits: the smallest each window's settings give (0, "no limit", is the largest),
   * and smaller still where the server stated a limit in a refusal.
   */
  get limits(): Limits {
    return withLearned(this.settingsLimits, this.learned);
  }

  /** The smallest limits of every window's settings. */
  get settingsLimits(): Limits {
    const all = [...this.declared.values()];
    if (!all.length) {
      const current = this.budget.currentLimits;
      if (current !== this.lastApplied) this.base = current;
      return this.base ?? current;
    }
    const smallest = (name: LimitName) => {
      const set = all.map((l) => l[name]).filter((v) => v > 0);
      return set.length ? Math.min(...set) : 0;
    };
    return Object.fromEntries(LIMIT_NAMES.map((name) => [name, smallest(name)])) as unknown as Limits;
  }

  /** The learned limits still in force (each holds `LEARNED_FOR_MS`). */
  get learned(): LearnedLimit[] {
    const since = this.clock.now() - LEARNED_FOR_MS;
    return [...this.learnedLimits.values()].filter((l) => l.at > since);
  }

  /** Gives the budget the account's limits when they changed (a learned limit lapses with time alone). */
  private refreshLimits(force = false): void {
    if (!force && !this.learnedLimits.size) return;
    const limits = this.limits;
    const key = LIMIT_NAMES.map((n) => limits[n]).join(',');
    if (!force && key === this.applied) return;
    this.applied = key;
    this.lastApplied = limits;
    this.budget.setLimits(limits);
  }

  get limitsDiffer(): boolean {
    const all = [...this.declared.values()];
    return all.some((l) => LIMIT_NAMES.some((name) => l[name] !== all[0][name]));
  }

  get holders(): string[] {
    return [...this.declared.keys()];
  }

  get tickets(): readonly LineTicket[] {
    return this.line;
  }

  exceeds(tokens: number): Exceeded | undefined {
    this.refreshLimits();
    return this.budget.exceeds(tokens);
  }

  /** How long until this ticket may go: it must be at the head of the line and fit every limit. */
  waitFor(ticket: string, tokens: number): LineWait {
    this.refreshLimits();
    if (this.line.length && this.line[0].id !== ticket) return { ms: Infinity, limit: 'line' };
    return this.budget.waitFor(tokens);
  }

  /** Admission times for the line's tickets, in order, from `notBefore` on (see `Budget.plan`). */
  plan(notBefore: number): Map<string, number | undefined> {
    this.refreshLimits();
    const etas = this.budget.plan(
      this.line.map((t) => t.tokens),
      notBefore,
    );
    return new Map(this.line.map((t, i) => [t.id, etas[i]]));
  }

  snapshotFor(holder: string): Omit<AccountSnapshot, 'sharing' | 'ownLimits'> {
    this.refreshLimits();
    const snapshot = this.budget.snapshot();
    const here = { requests: 0, tokens: 0 };
    const others = { requests: 0, tokens: 0 };
    for (const spend of this.budget.ledgerView.since(this.clock.now() - this.options.windowMs - this.options.marginMs)) {
      const who = spend.holder === holder ? here : others;
      who.requests += spend.requests;
      who.tokens += spend.tokens;
    }
    const learned = this.learned;
    return {
      ...snapshot,
      spentBy: { here, others },
      windows: Math.max(1, this.declared.size),
      limitsDiffer: this.limitsDiffer,
      ...(learned.length ? { learned } : {}),
    };
  }

  image(): AccountImage {
    const { windowMs, marginMs, dayMs } = this.options;
    return {
      spends: spendsToKeep(this.budget.ledgerView, this.clock.now(), { minuteMs: windowMs + marginMs, dayMs: dayMs + marginMs }),
      running: this.budget.runningSpends(),
      line: this.line,
      limits: [...this.declared].map(([holder, limits]) => ({ holder, limits })),
      cuts: this.budget.cutsImage(),
      learned: this.learned,
    };
  }

  /**
   * Adds spends known elsewhere (a record another window wrote, what this window kept): each
   * counted once, whether it is held one by one here and summed per minute there, or the reverse.
   * Both sides are first kept as `image` keeps them (the last minute one by one, older spends summed
   * per minute), then merged by id, the later time and the larger cost winning: a per-minute sum is
   * thus the larger of the two, which is right when one side knows all the other knows of it.
   */
  merge(spends: readonly Spend[]): void {
    if (!spends.length) return;
    const { windowMs, marginMs, dayMs } = this.options;
    const spans = { minuteMs: windowMs + marginMs, dayMs: dayMs + marginMs };
    const now = this.clock.now();
    // A running send stays one by one however old (it is summed once it ends, never twice).
    const running = this.budget.runningSpends();
    const ids = new Set(running.map((s) => s.id));
    const settled = (all: readonly Spend[]) => all.filter((s) => !ids.has(s.id));
    const keep = (all: readonly Spend[]) => spendsToKeep({ since: (t) => settled(all).filter((s) => s.at > t) }, now, spans);
    const merged = new MemoryLedger([...keep(this.budget.ledgerView.since(-Infinity)), ...keep(spends)]);
    this.budget.reset(merged.since(-Infinity), running, this.budget.cutsImage());
  }

  /** Starts this copy over from another's image. */
  load(image: AccountImage): void {
    this.budget.reset(image.spends, image.running, image.cuts);
    this.line = [...image.line];
    this.declared.clear();
    for (const { holder, limits } of image.limits) this.declared.set(holder, limits);
    // An image without learned limits (a team's, rebuilt from Redis) leaves this copy's as they are.
    if (image.learned) {
      this.learnedLimits.clear();
      for (const learned of image.learned) this.learnedLimits.set(learned.limit, learned);
    }
    if (this.declared.size || this.learnedLimits.size) this.refreshLimits(true);
  }

  private placeOf(ticket: LineTicket): number {
    const i = this.line.findIndex((t) => t.order > ticket.order || (t.order === ticket.order && t.id > ticket.id));
    return i < 0 ? this.line.length : i;
  }

  private admissionOf(id: string): Admission {
    return { spendId: id, tokens: this.budget.ledgerView.get(id)?.tokens ?? 0, released: false };
  }
}

/**
 * Where a window's sends get their budget: one atomic admission at a time against the account's
 * state, however many windows (or machines) share it. The queue asks; the store decides.
 */
export interface AccountStore {
  /** This window. */
  readonly holder: string;
  /** Fires when anything changes, in this window or another: spends, the line, the limits. */
  readonly onDidChange: Event<void>;
  readonly limits: Limits;
  /** This window's limits, from its settings; the account's are the smallest of every window's. */
  setLimits(limits: Limits): void;
  exceeds(tokens: number): Exceeded | undefined;
  join(ticket: Omit<LineTicket, 'holder'>): void;
  leave(id: string): void;
  waitFor(ticket: string, tokens: number): LineWait;
  /**
   * Admits the ticket if it is at the head of the account's line and fits every limit, recording
   * its spend under `spendId` as one step. Undefined when it may not go, or when the answer is not
   * known yet (another process decides): `onDidChange` fires when it is worth asking again.
   */
  tryAdmit(ticket: string, tokens: number, spendId: string): Admission | undefined;
  settle(admission: Admission, tokens: number): void;
  confirm(admission: Admission): void;
  refund(admission: Admission): void;
  release(admission: Admission): void;
  learnRefusal(limit: SharedLimit): void;
  /** The server stated a limit: every window that shares the account keeps to it (where smaller than the settings). */
  learnLimit(learned: LearnedLimit): void;
  /** Lets go of every learned limit (after a top-up, or a new tier). */
  forgetLearned(): void;
  dayFreesIn(tokens: number): number;
  plan(notBefore: number): Map<string, number | undefined>;
  /** The account's line, in order. */
  readonly tickets: readonly LineTicket[];
  snapshot(): AccountSnapshot;
}

/**
 * The account kept in this process alone: every step applied at once. It is the whole store for a
 * window that shares with no other, and the state a coordinator keeps for the windows it serves.
 */
export class MemoryAccountStore implements AccountStore {
  readonly state: AccountState;
  private readonly changed = new Emitter<void>();
  readonly onDidChange: Event<void> = this.changed.event;
  private ownLimits: Limits;

  constructor(
    budget: Budget,
    private readonly clock: Clock,
    readonly holder = 'here',
    /** Told every op applied, in order (a coordinator passes them on). */
    private readonly onOp?: (op: AccountOp) => void,
    /** Set unless the budget's own limits are to be used as they are (and changed on it directly). */
    declare = true,
  ) {
    this.state = new AccountState(clock, budget);
    this.ownLimits = budget.currentLimits;
    if (declare) this.apply({ op: 'limits', holder, limits: budget.currentLimits });
  }

  /** A store of this window alone over a budget kept elsewhere (whose limits are changed on it directly). */
  static over(budget: Budget, clock: Clock): MemoryAccountStore {
    return new MemoryAccountStore(budget, clock, 'here', undefined, false);
  }

  static create(
    limits: Limits,
    clock: Clock,
    ledger: Ledger = new MemoryLedger(),
    options: BudgetOptions = DEFAULT_BUDGET_OPTIONS,
    holder?: string,
  ) {
    return new MemoryAccountStore(new Budget(limits, clock, ledger, options), clock, holder);
  }

  get limits(): Limits {
    return this.state.limits;
  }

  get tickets(): readonly LineTicket[] {
    return this.state.tickets;
  }

  setLimits(limits: Limits): void {
    this.ownLimits = limits;
    this.apply({ op: 'limits', holder: this.holder, limits });
  }

  exceeds(tokens: number): Exceeded | undefined {
    return this.state.exceeds(tokens);
  }

  join(ticket: Omit<LineTicket, 'holder'>): void {
    this.apply({ op: 'join', ticket: { ...ticket, holder: this.holder } });
  }

  leave(id: string): void {
    if (this.state.tickets.some((t) => t.id === id)) this.apply({ op: 'leave', id });
  }

  waitFor(ticket: string, tokens: number): LineWait {
    return this.state.waitFor(ticket, tokens);
  }

  tryAdmit(ticket: string, tokens: number, spendId: string, holder = this.holder): Admission | undefined {
    if (this.state.waitFor(ticket, tokens).ms !== 0) return undefined;
    const spend: Spend = { id: spendId, at: this.clock.now(), requests: 1, tokens, holder };
    this.apply({ op: 'admit', ticket, spend });
    return { spendId, tokens, released: false };
  }

  settle(admission: Admission, tokens: number): void {
    admission.tokens = tokens;
    this.apply({ op: 'settle', id: admission.spendId, tokens });
  }

  confirm(admission: Admission): void {
    this.apply({ op: 'confirm', id: admission.spendId, at: this.clock.now() });
  }

  refund(admission: Admission): void {
    admission.released = true;
    this.apply({ op: 'refund', id: admission.spendId });
  }

  release(admission: Admission): void {
    if (admission.released) return;
    admission.released = true;
    this.apply({ op: 'release', id: admission.spendId });
  }

  learnRefusal(limit: SharedLimit): void {
    this.apply({ op: 'refusal', limit, at: this.clock.now() });
  }

  learnLimit(learned: LearnedLimit): void {
    this.apply({ op: 'learned', learned });
  }

  forgetLearned(): void {
    this.apply({ op: 'forget' });
  }

  dayFreesIn(tokens: number): number {
    return this.state.budget.dayFreesIn(tokens);
  }

  plan(notBefore: number): Map<string, number | undefined> {
    return this.state.plan(notBefore);
  }

  snapshot(): AccountSnapshot {
    return { ...this.state.snapshotFor(this.holder), sharing: 'alone', ownLimits: this.ownLimits };
  }

  /** The spends of the account, to keep across a reload. */
  get ledger(): Pick<Ledger, 'since'> {
    return this.state.budget.ledgerView;
  }

  /** Applies one op (from this window or, in a coordinator, from another) and tells everyone. */
  apply(op: AccountOp): void {
    this.state.apply(op);
    this.onOp?.(op);
    this.changed.fire();
  }

  dispose(): void {
    this.changed.dispose();
  }
}
