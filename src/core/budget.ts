import { Clock } from './clock';
import { Ledger, MemoryLedger, newSpendId, Spend, SpendKey } from './ledger';
import { LimitName, Limits } from './limits';

export interface BudgetOptions {
  /** Length of the per-minute window (shortened only in tests). */
  readonly windowMs: number;
  /** Length of the per-day window. */
  readonly dayMs: number;
  /** Extra time a spent unit stays spent, covering the delay before the server admits a request. */
  readonly marginMs: number;
  /**
   * While the account's concurrency is not known (0), send one request at a time until the server
   * has answered it: a burst then meets the server's concurrency limit at most once (and learns it
   * from the refusal) instead of once per request sent together.
   */
  readonly probeConcurrency?: boolean;
}

export const DEFAULT_BUDGET_OPTIONS: BudgetOptions = { windowMs: 60_000, dayMs: 86_400_000, marginMs: 500 };

/** One admitted send: what it holds until it settles and releases. */
export interface Admission {
  readonly spendId: string;
  tokens: number;
  released: boolean;
}

/** A send's cost against the whole of a limit it is larger than. */
export interface Exceeded {
  readonly limit: 'tokensPerMinute' | 'tokensPerDay' | 'contextWindow';
  readonly tokens: number;
  readonly capacity: number;
}

export interface Wait {
  /** Milliseconds until the cost fits; Infinity when only a finishing send can make room. */
  readonly ms: number;
  /** The limit that holds it back longest, or null when it fits now. */
  readonly limit: LimitName | null;
}

export interface BudgetSnapshot {
  readonly limits: Limits;
  readonly requestsUsed: number;
  readonly tokensUsed: number;
  readonly tokensUsedToday: number;
  readonly inFlight: number;
  /** When the oldest unit of the minute window comes back, if any is spent. */
  readonly nextReturnAt: number | undefined;
  /** The part of each shared limit the engine lets itself use now (below 1 after the server refused for it). */
  readonly shares: Readonly<Record<SharedLimit, number>>;
}

/** The limits whose room another client on the account can take unseen. */
export type SharedLimit = 'requestsPerMinute' | 'tokensPerMinute' | 'concurrency';

/** After a refusal the share is cut to this fraction of what it was… */
const SHARE_CUT = 0.75;
/** …and grows back by this part of the limit per window without a refusal. */
const SHARE_RECOVERY_PER_WINDOW = 0.1;
const MIN_SHARE = 0.1;

/**
 * The per-minute, per-day and concurrency budget of one account. A spent unit comes back one
 * window (plus a margin) after it was spent, so no window-length span ever holds more than a
 * limit's capacity: safe against rolling-window, fixed-window and token-bucket servers alike.
 */
export class Budget {
  /** Admissions whose slot is taken: spend id → the window that holds it. */
  private readonly running = new Map<string, string | undefined>();
  /** Admissions whose request the server has not answered yet (kept only with `probeConcurrency`). */
  private readonly unanswered = new Set<string>();
  /** Per minute limit: the share it was cut to, and when (a share grows back from there). */
  private readonly cuts: Record<SharedLimit, { share: number; at: number }> = {
    requestsPerMinute: { share: 1, at: Number.MIN_SAFE_INTEGER },
    tokensPerMinute: { share: 1, at: Number.MIN_SAFE_INTEGER },
    concurrency: { share: 1, at: Number.MIN_SAFE_INTEGER },
  };

  constructor(
    private limits: Limits,
    private readonly clock: Clock,
    private readonly ledger: Ledger = new MemoryLedger(),
    readonly options: BudgetOptions = DEFAULT_BUDGET_OPTIONS,
  ) {}

  get currentLimits(): Limits {
    return this.limits;
  }

  /** New limits apply at once; what was spent stays spent. */
  setLimits(limits: Limits): void {
    this.limits = limits;
  }

  /** Which limit a send of this many tokens is larger than the whole of, if any: it can never be admitted. */
  exceeds(tokens: number): Exceeded | undefined {
    const { tokensPerMinute, tokensPerDay } = this.limits;
    if (tokens > tokensPerMinute) return { limit: 'tokensPerMinute', tokens, capacity: tokensPerMinute };
    if (tokensPerDay > 0 && tokens > tokensPerDay) return { limit: 'tokensPerDay', tokens, capacity: tokensPerDay };
    return undefined;
  }

  /** How long until a send of `tokens` fits every limit at once. */
  waitFor(tokens: number): Wait {
    const now = this.clock.now();
    const concurrencyFull =
      (this.limits.concurrency > 0 &&
        this.inFlight >= Math.max(1, Math.floor(this.limits.concurrency * this.shareOf('concurrency', now)))) ||
      this.probing;
    const wait = this.planWait(now, tokens);
    if (concurrencyFull) return { ms: Infinity, limit: 'concurrency' };
    // While a cut share grows back, room appears before spends return: look again within a tenth of a window.
    const recovering = this.shareOf('requestsPerMinute', now) < 1 || this.shareOf('tokensPerMinute', now) < 1;
    // (a cut concurrency share needs no timer: every send that ends re-plans the queue)
    if (recovering && wait.ms > this.options.windowMs / 10 && wait.limit !== 'tokensPerDay')
      return { ms: this.options.windowMs / 10, limit: wait.limit };
    return wait;
  }

  get inFlight(): number {
    return this.running.size;
  }

  /** Concurrency unknown, and a request the server has not answered yet: the next waits for its answer. */
  private get probing(): boolean {
    return this.options.probeConcurrency === true && this.limits.concurrency === 0 && this.unanswered.size > 0;
  }

  /** Takes the units of one send. Only call when waitFor(tokens).ms is 0. */
  admit(tokens: number, id: string = newSpendId(), holder?: string): Admission {
    if (this.waitFor(tokens).ms !== 0) throw new Error('Budget.admit called for a send that does not fit');
    return this.take({ id, at: this.clock.now(), requests: 1, tokens, holder });
  }

  /**
   * Records an admission decided elsewhere (by the account's coordinator) or re-declared after
   * one was lost: its units are spent and its slot taken, whatever the budget says now.
   */
  take(spend: Spend): Admission {
    // A spend known already (declared again after a coordinator was lost) may have had its answer.
    if (this.options.probeConcurrency && !this.ledger.get(spend.id)) this.unanswered.add(spend.id);
    this.running.set(spend.id, spend.holder);
    this.prune(this.clock.now());
    this.ledger.record(spend);
    return { spendId: spend.id, tokens: spend.tokens, released: false };
  }

  /** The slots a window holds, by spend id. */
  slotsOf(holder: string): string[] {
    return [...this.running].filter(([, h]) => h === holder).map(([id]) => id);
  }

  get ledgerView(): Pick<Ledger, 'since' | 'get' | 'size'> {
    return this.ledger;
  }

  /** Corrects the recorded cost of an admission, once the server has said what it charged. */
  settle(admission: Admission, tokens: number): void {
    admission.tokens = tokens;
    this.ledger.correct(admission.spendId, { tokens });
  }

  /**
   * Moves an admission's spend to now, when the server's answer shows it admitted the request no
   * later than this: the unit then comes back one window after the server took it, however long
   * the request took to get there.
   */
  confirm(admission: Admission): void {
    this.confirmAt(admission.spendId, this.clock.now());
  }

  confirmAt(spendId: string, at: number): void {
    this.unanswered.delete(spendId);
    this.ledger.correct(spendId, { at });
  }

  /**
   * How long until `tokens` of the day's recorded spends have come back. After a per-day refusal
   * that named no time, that is the earliest moment the server's day surely has that much more
   * room, whether its day rolls or is fixed (a unit comes back one day after it was spent). Spends
   * made elsewhere (another client, an earlier session) came at unknown times, so when the recorded
   * ones do not cover `tokens`, only a whole day from now is sure.
   */
  dayFreesIn(tokens: number): number {
    const now = this.clock.now();
    const spent = this.ledger.total('tokens', now - this.daySpan);
    const ms = this.ledger.timeUntilRoom(now, this.daySpan, 'tokens', spent, tokens);
    return ms === Infinity ? this.daySpan : Math.max(0, ms);
  }

  /**
   * The server refused for a per-minute limit although the engine's own count had room: someone
   * else (a teammate, another tool on the same account) uses part of it. The engine takes a smaller
   * share of that limit, and grows it back slowly while no refusal comes (additive increase,
   * multiplicative decrease), so that it neither keeps colliding nor gives up the room for good.
   * A burst of refusals teaches once: the share is cut at most once per quarter window.
   */
  learnRefusal(limit: SharedLimit, now = this.clock.now()): void {
    const cut = this.cuts[limit];
    if (now - cut.at < this.options.windowMs / 4) return;
    if (limit === 'concurrency' && this.limits.concurrency === 0) return; // no limit set: nothing to take a share of
    // The server is full now: what this engine holds of it is at most what is left for it.
    const since = now - this.minuteSpan;
    const own =
      limit === 'requestsPerMinute'
        ? this.ledger.total('requests', since) / this.limits.requestsPerMinute
        : limit === 'tokensPerMinute'
          ? this.ledger.total('tokens', since) / this.limits.tokensPerMinute
          : this.inFlight / this.limits.concurrency;
    const share = Math.min(this.shareOf(limit, now) * SHARE_CUT, own);
    this.cuts[limit] = { share: Math.max(MIN_SHARE, share), at: now };
  }

  private shareOf(limit: SharedLimit, now: number): number {
    const { share, at } = this.cuts[limit];
    return Math.min(1, share + (SHARE_RECOVERY_PER_WINDOW * (now - at)) / this.options.windowMs);
  }

  /**
   * Gives back every unit of an admission whose request never left (the attempt failed or was
   * cancelled before it was sent): the server never counted it. Frees its slot too; idempotent.
   */
  refund(admission: Admission): void {
    this.ledger.remove(admission.spendId);
    this.release(admission);
  }

  /** Frees the concurrency slot of a send that ended (answered, failed or cancelled); idempotent. */
  release(admission: Admission): void {
    admission.released = true;
    this.running.delete(admission.spendId);
    this.unanswered.delete(admission.spendId);
  }

  /** The spends whose slot is still taken. */
  runningSpends(): Spend[] {
    return [...this.running.keys()].flatMap((id) => this.ledger.get(id) ?? []);
  }

  cutsImage(): Record<SharedLimit, { share: number; at: number }> {
    return { ...this.cuts };
  }

  /** Starts over from another copy's state: its spends, the slots taken, the shares it learned. */
  reset(spends: readonly Spend[], running: readonly Spend[], cuts: Record<SharedLimit, { share: number; at: number }>): void {
    for (const id of [...this.running.keys()]) this.running.delete(id);
    this.unanswered.clear(); // what runs elsewhere was admitted there: its answer is that window's to wait for
    this.ledger.clear();
    for (const spend of [...spends, ...running].sort((a, b) => a.at - b.at)) this.ledger.record(spend);
    for (const spend of running) this.running.set(spend.id, spend.holder);
    Object.assign(this.cuts, cuts);
  }

  snapshot(): BudgetSnapshot {
    const now = this.clock.now();
    const minuteStart = now - this.minuteSpan;
    const oldest = this.ledger.oldestAfter(minuteStart);
    return {
      limits: this.limits,
      requestsUsed: this.ledger.total('requests', minuteStart),
      tokensUsed: this.ledger.total('tokens', minuteStart),
      tokensUsedToday: this.ledger.total('tokens', this.limits.tokensPerDay > 0 ? now - this.daySpan : minuteStart),
      inFlight: this.inFlight,
      nextReturnAt: oldest && oldest.at + this.minuteSpan,
      shares: {
        requestsPerMinute: this.shareOf('requestsPerMinute', now),
        tokensPerMinute: this.shareOf('tokensPerMinute', now),
        concurrency: this.shareOf('concurrency', now),
      },
    };
  }

  /**
   * Admission times for sends of the given sizes, queued in this order behind `notBefore`,
   * assuming each goes out as soon as it fits. `undefined` from the first one that would have to
   * wait for a running send to finish (concurrency), since nobody knows when that will be.
   */
  plan(tokens: readonly number[], notBefore: number): (number | undefined)[] {
    const now = this.clock.now();
    const planned: Spend[] = [];
    const etas: (number | undefined)[] = [];
    let t = Math.max(now, notBefore);
    let running = this.inFlight;
    for (const cost of tokens) {
      if (this.limits.concurrency > 0 && running >= this.limits.concurrency) break;
      // Probing an unknown concurrency: when the next can go depends on when the server answers.
      if (this.probing || (this.options.probeConcurrency && this.limits.concurrency === 0 && etas.length > 0)) break;
      t += this.planWait(t, cost, planned).ms;
      etas.push(t);
      planned.push({ id: '', at: t, requests: 1, tokens: cost });
      running++;
    }
    while (etas.length < tokens.length) etas.push(undefined);
    return etas;
  }

  private get minuteSpan(): number {
    return this.options.windowMs + this.options.marginMs;
  }

  private get daySpan(): number {
    return this.options.dayMs + this.options.marginMs;
  }

  /** Longest wait over the windowed limits, counting `planned` spends after the recorded ones. */
  private planWait(now: number, tokens: number, planned: readonly Spend[] = []): Wait {
    const { requestsPerMinute, tokensPerMinute, tokensPerDay } = this.limits;
    let best: Wait = { ms: 0, limit: null };
    const consider = (limit: LimitName, span: number, key: SpendKey, capacity: number, cost: number) => {
      const ms = this.ledger.timeUntilRoom(now, span, key, capacity, cost, planned);
      if (ms > best.ms) best = { ms, limit };
    };
    // A cut share caps the limit, but never below one send in an otherwise empty window.
    const shared = (limit: SharedLimit, capacity: number, cost: number) => Math.max(cost, Math.floor(capacity * this.shareOf(limit, now)));
    consider('requestsPerMinute', this.minuteSpan, 'requests', shared('requestsPerMinute', requestsPerMinute, 1), 1);
    consider('tokensPerMinute', this.minuteSpan, 'tokens', shared('tokensPerMinute', tokensPerMinute, tokens), tokens);
    if (tokensPerDay > 0) consider('tokensPerDay', this.daySpan, 'tokens', tokensPerDay, tokens);
    return best;
  }

  /** Keeps a day even without a per-day limit: one set later, or a per-day refusal, needs it. */
  private prune(now: number): void {
    this.ledger.prune(now - Math.max(this.minuteSpan, this.daySpan));
  }
}
