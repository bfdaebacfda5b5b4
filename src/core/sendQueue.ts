import { AccountSnapshot, AccountStore, MemoryAccountStore } from './account';
import { Admission, Budget, Exceeded } from './budget';
import { Clock } from './clock';
import { Emitter, Event } from './event';
import { LimitName } from './limits';

/** What a rate refusal stated: the limit's value, and whether it is the organisation's or a project's. */
export interface Stated {
  readonly stated?: number;
  readonly scope?: 'organization' | 'project';
}
import { UsageEvent } from './usageSeries';

/** What the queue should do about a failed attempt; the composition root maps client errors to this. */
export type Verdict =
  /** The server refused for rate: pause all dispatch (for `afterMs`, or a backoff) and retry first. */
  | ({ readonly action: 'pause'; readonly afterMs?: number; readonly evidence: string; readonly limit?: LimitName } & Stated)
  /** The server is overloaded or failing: back off exponentially with jitter (at least `afterMs`, when it said) and retry first. */
  | { readonly action: 'backoff'; readonly afterMs?: number; readonly evidence: string }
  /**
   * The server's daily token limit is spent and it named no time: retry first once the day has
   * given back `excessTokens` (by how much the server says the send overshot; default its cost).
   */
  | ({ readonly action: 'waitForDay'; readonly excessTokens?: number; readonly evidence: string } & Stated)
  /** Nothing can succeed until the user acts (the balance or the plan's quota is spent): this send fails, and every waiting one with it. */
  | { readonly action: 'stop'; readonly evidence: string }
  | { readonly action: 'fail' };

export interface SendOutcome<T> {
  readonly value: T;
  /** The server's `usage.prompt_tokens`, to settle the admission's cost. */
  readonly promptTokens?: number;
}

/** One attempt at a send, as its `run` sees it. */
export interface SendAttempt {
  readonly signal: AbortSignal;
  /** 1 for the first attempt. */
  readonly number: number;
  /**
   * To be called just before the request leaves for the server. An attempt that fails (or is
   * cancelled) before this gives its units back: the server never counted it. From here on they
   * stay spent, whatever happens, since the server may have counted it.
   */
  sending(): void;
  /**
   * To be called when the server's answer arrives (any status): the server has admitted or refused
   * it by then. Implies `sending()`. `accepted`: the answer is a success (it streams), so the next
   * send need not wait for it to end; a refusal is learned from first, when the attempt fails.
   */
  serverAnswered(accepted?: boolean): void;
}

export interface SendSpec<T> {
  readonly label: string;
  readonly promptTokens: number;
  readonly maxTokens: number;
  /** The model's context window, when known. */
  readonly contextWindow?: number;
  run(attempt: SendAttempt): Promise<SendOutcome<T>>;
}

export interface QueueOptions {
  /** Most sends that may wait at once. */
  readonly maxLength: number;
  /** Longest a send may wait before it is given up. */
  readonly maxWaitMs: number;
  /** Attempts per send, the first included, when the server refuses or fails. */
  readonly maxAttempts: number;
  /** How long the line stays stopped after a refusal no wait can cure (a spent balance): sends made meanwhile are not sent. */
  readonly stopMs?: number;
  readonly backoffBaseMs: number;
  readonly backoffMaxMs: number;
}

export const DEFAULT_QUEUE_OPTIONS: QueueOptions = {
  maxLength: 20,
  maxWaitMs: 15 * 60_000,
  maxAttempts: 5,
  backoffBaseMs: 1_000,
  backoffMaxMs: 60_000,
};

/** Why the queue gave up on a send, or never took it: data, for the UI to put into words. */
export type Rejection =
  /** Larger than the whole of a limit (or the model's context window): it can never go. */
  | ({
      readonly kind: 'impossible';
      readonly promptTokens: number;
      readonly maxTokens: number;
      readonly underNewLimits: boolean;
    } & Exceeded)
  | { readonly kind: 'queueFull'; readonly waiting: number; readonly maxLength: number }
  | { readonly kind: 'waitTooLong'; readonly waitMs: number; readonly maxWaitMs: number }
  | { readonly kind: 'timedOut'; readonly waitedMs: number; readonly maxWaitMs: number }
  /** The server's per-day limit refused it, and room is certain only after the longest wait allowed. */
  | {
      readonly kind: 'dayLimit';
      readonly evidence: string;
      readonly roomInMs: number;
      readonly maxWaitMs: number;
      readonly tokensPerDaySet: boolean;
    }
  /**
   * Not sent: a send before it was refused for a reason no wait can cure (the balance or the plan's
   * quota is spent). `resumesInMs`: the line is stopped, and takes sends again this much later (or
   * at once when the key or the base URL changes).
   */
  | { readonly kind: 'accountStopped'; readonly evidence: string; readonly resumesInMs?: number }
  /** Cancelled while it waited, once admitted but before its request left, while its answer arrived, or because the extension stopped. */
  | { readonly kind: 'cancelled'; readonly when: 'waiting' | 'beforeSending' | 'answering' | 'stopped' };

export type RejectReason = Rejection['kind'];

/** A send the queue gave up on (or never took); `rejection` says why, in numbers. */
export class SendRejected extends Error {
  constructor(readonly rejection: Rejection) {
    super(`send rejected: ${rejection.kind}`);
    this.name = 'SendRejected';
  }

  get reason(): RejectReason {
    return this.rejection.kind;
  }
}

export interface Ticket<T> {
  readonly id: number;
  readonly result: Promise<T>;
}

export interface QueueEntryView {
  readonly id: number;
  /** Sends of other windows ahead of it in the account's line. */
  readonly ahead: number;
  readonly label: string;
  readonly tokens: number;
  readonly enqueuedAt: number;
  readonly state: 'waiting' | 'running';
  /** When it is expected to go out; undefined while that depends on a running send finishing. */
  readonly eta: number | undefined;
  readonly attempt: number;
}

export interface ServerRefusal {
  readonly at: number;
  readonly evidence: string;
  readonly until: number;
}

interface Entry<T> {
  readonly id: number;
  /** Its ticket in the account's line. */
  readonly ticket: string;
  readonly spec: SendSpec<T>;
  readonly tokens: number;
  readonly enqueuedAt: number;
  state: 'waiting' | 'running';
  attempt: number;
  cancelled: boolean;
  controller?: AbortController;
  resolve(value: T): void;
  reject(error: unknown): void;
}

/**
 * Sends wait here, in order, until the budget has room for the head. One timer is set for the
 * moment the head will fit (or a pause ends, or a wait runs out); nothing polls.
 */
export class SendQueue<T> {
  private waiting: Entry<T>[] = [];
  private readonly running = new Map<number, Entry<T>>();
  private nextId = 1;
  private pausedUntil = 0;
  private lastRefusal: ServerRefusal | undefined;
  /** Stopped after a refusal no wait can cure: until when, and the server's words. */
  private stopped: { until: number; evidence: string } | undefined;
  private cancelTimer: (() => void) | undefined;
  private disposed = false;
  private readonly changed = new Emitter<void>();
  /** Fires whenever a send is queued, starts, ends or is cancelled, and when the plan changes. */
  readonly onDidChange: Event<void> = this.changed.event;
  private readonly used = new Emitter<UsageEvent>();
  /** Fires with each admission, settle, refund, server refusal and change of the line's length: what a usage series records. */
  readonly onDidUse: Event<UsageEvent> = this.used.event;
  private lastLineLength = 0;
  private readonly account: AccountStore;
  /** The account's mutating steps, taken by this queue: the change they fire is not news to it. */
  private readonly own: Pick<
    AccountStore,
    'confirm' | 'settle' | 'refund' | 'release' | 'learnRefusal' | 'learnLimit' | 'join' | 'leave' | 'tryAdmit'
  >;
  private ownSteps = 0;
  private readonly accountChanged: { dispose(): void };
  /** Tells this queue's tickets from other queues' on the same account. */
  private readonly prefix = Math.random().toString(36).slice(2, 8);

  constructor(
    /** The account's budget: a `Budget` of this window alone, or a store shared with other windows. */
    budget: Budget | AccountStore,
    private readonly clock: Clock,
    private readonly classify: (error: unknown) => Verdict,
    private options: QueueOptions = DEFAULT_QUEUE_OPTIONS,
    private readonly random: () => number = Math.random,
  ) {
    this.account = budget instanceof Budget ? MemoryAccountStore.over(budget, clock) : budget;
    const account = this.account;
    const step =
      <A extends unknown[], R>(f: (...args: A) => R) =>
      (...args: A): R => {
        this.ownSteps++;
        try {
          return f.apply(account, args);
        } finally {
          this.ownSteps--;
        }
      };
    this.own = {
      confirm: step(account.confirm),
      settle: step(account.settle),
      refund: step(account.refund),
      release: step(account.release),
      learnRefusal: step(account.learnRefusal),
      learnLimit: step(account.learnLimit),
      join: step(account.join),
      leave: step(account.leave),
      tryAdmit: step(account.tryAdmit),
    };
    // Another window spent, left the line or changed its limits: the plan may have changed. Looked
    // at once this turn's own steps are done (a change this queue made is already in its plan).
    let soon = false;
    this.accountChanged = this.account.onDidChange(() => {
      // This queue's own steps re-plan where they are taken (after a settle, not between the
      // answer and the settle): only another window's change, or the coordinator's answer, wakes it.
      if (this.ownSteps > 0 || soon) return;
      soon = true;
      queueMicrotask(() => {
        soon = false;
        if (!this.disposed) this.pump();
      });
    });
  }

  /** Takes sends again after a stop (the key or the base URL changed: the account may be another, or topped up). */
  resume(): void {
    this.stopped = undefined;
  }

  /** Queues a send, or throws SendRejected at once when it could never go or would wait too long. */
  enqueue(spec: SendSpec<T>): Ticket<T> {
    const tokens = spec.promptTokens + spec.maxTokens;
    const now = this.clock.now();
    if (this.stopped && now < this.stopped.until)
      throw new SendRejected({ kind: 'accountStopped', evidence: this.stopped.evidence, resumesInMs: this.stopped.until - now });
    const exceeded = this.exceeds(spec, tokens);
    if (exceeded)
      throw new SendRejected({
        kind: 'impossible',
        ...exceeded,
        promptTokens: spec.promptTokens,
        maxTokens: spec.maxTokens,
        underNewLimits: false,
      });
    if (this.waiting.length >= this.options.maxLength) {
      throw new SendRejected({ kind: 'queueFull', waiting: this.waiting.length, maxLength: this.options.maxLength });
    }
    let resolve!: (value: T) => void;
    let reject!: (error: unknown) => void;
    const result = new Promise<T>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    const id = this.nextId++;
    const entry: Entry<T> = {
      id,
      ticket: `${this.account.holder}:${this.prefix}:${id.toString(36).padStart(8, '0')}`,
      spec,
      tokens,
      enqueuedAt: this.clock.now(),
      state: 'waiting',
      attempt: 0,
      cancelled: false,
      resolve,
      reject,
    };
    this.waiting.push(entry);
    this.own.join({ id: entry.ticket, tokens, order: entry.enqueuedAt });
    const eta = this.account.plan(this.pausedUntil).get(entry.ticket);
    if (eta !== undefined && eta - entry.enqueuedAt > this.options.maxWaitMs) {
      this.waiting.pop();
      this.own.leave(entry.ticket);
      throw new SendRejected({ kind: 'waitTooLong', waitMs: eta - entry.enqueuedAt, maxWaitMs: this.options.maxWaitMs });
    }
    this.pump();
    return { id: entry.id, result };
  }

  /** Cancels a waiting send (removed) or a running one (aborted; its units stay spent). */
  cancel(id: number): boolean {
    const i = this.waiting.findIndex((e) => e.id === id);
    if (i >= 0) {
      const [entry] = this.waiting.splice(i, 1);
      this.own.leave(entry.ticket);
      entry.reject(new SendRejected({ kind: 'cancelled', when: 'waiting' }));
      this.pump();
      return true;
    }
    const entry = this.running.get(id);
    if (!entry) return false;
    entry.cancelled = true;
    entry.controller?.abort();
    return true;
  }

  /** Waiting and running sends, waiting ones in order with their expected start. */
  entries(): QueueEntryView[] {
    const etas = this.account.plan(this.pausedUntil);
    const line = this.account.tickets;
    const aheadOf = (e: Entry<T>) => {
      let others = 0;
      for (const t of line) {
        if (t.id === e.ticket) return others;
        if (t.holder !== this.account.holder) others++;
      }
      return 0;
    };
    const view = (e: Entry<T>, eta: number | undefined, ahead = 0): QueueEntryView => ({
      id: e.id,
      ahead,
      label: e.spec.label,
      tokens: e.tokens,
      enqueuedAt: e.enqueuedAt,
      state: e.state,
      eta,
      attempt: e.attempt,
    });
    return [
      ...[...this.running.values()].map((e) => view(e, undefined)),
      ...this.waiting.map((e) => view(e, etas.get(e.ticket), aheadOf(e))),
    ];
  }

  get waitingCount(): number {
    return this.waiting.length;
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** The server's last refusal, kept visible; `until` is when dispatch resumes. */
  get refusal(): ServerRefusal | undefined {
    return this.lastRefusal;
  }

  /** What holds the head back right now, if anything. */
  get headHeldBy(): LimitName | 'line' | 'serverPause' | undefined {
    if (!this.waiting.length) return undefined;
    if (this.clock.now() < this.pausedUntil) return 'serverPause';
    const head = this.waiting[0];
    return this.account.waitFor(head.ticket, head.tokens).limit ?? undefined;
  }

  /** The account's budget, for the status bar. */
  snapshot(): AccountSnapshot {
    return this.account.snapshot();
  }

  setOptions(options: QueueOptions): void {
    this.options = options;
    this.pump();
  }

  /** Re-plans after the limits changed: sends that can no longer fit fail, the timer is reset. */
  replan(): void {
    this.pump();
  }

  /** Stops the timer and fails every waiting send; running ones are aborted. */
  dispose(): void {
    this.disposed = true;
    this.cancelTimer?.();
    this.accountChanged.dispose();
    for (const entry of this.waiting.splice(0)) {
      this.own.leave(entry.ticket);
      entry.reject(new SendRejected({ kind: 'cancelled', when: 'stopped' }));
    }
    for (const id of [...this.running.keys()]) this.cancel(id);
    this.changed.dispose();
    this.used.dispose();
  }

  private exceeds(spec: SendSpec<T>, tokens: number): Exceeded | undefined {
    if (spec.contextWindow !== undefined && tokens > spec.contextWindow)
      return { limit: 'contextWindow', tokens, capacity: spec.contextWindow };
    return this.account.exceeds(tokens);
  }

  /** Starts every send that fits now, then sets one timer for the next moment something can change. */
  private pump(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
    const now = this.clock.now();
    this.failWaiting(
      (e) => now - e.enqueuedAt >= this.options.maxWaitMs,
      (e) => new SendRejected({ kind: 'timedOut', waitedMs: now - e.enqueuedAt, maxWaitMs: this.options.maxWaitMs }),
    );
    this.failWaiting(
      (e) => this.account.exceeds(e.tokens) !== undefined,
      (e) =>
        new SendRejected({
          kind: 'impossible',
          ...this.account.exceeds(e.tokens)!,
          promptTokens: e.spec.promptTokens,
          maxTokens: e.spec.maxTokens,
          underNewLimits: true,
        }),
    );
    let wake = Infinity;
    while (this.waiting.length) {
      const head = this.waiting[0];
      if (now < this.pausedUntil) {
        wake = this.pausedUntil - now;
        break;
      }
      const wait = this.account.waitFor(head.ticket, head.tokens);
      if (wait.ms > 0) {
        wake = wait.ms;
        break;
      }
      const admission = this.own.tryAdmit(head.ticket, head.tokens, `${head.ticket}#${head.attempt + 1}`);
      if (!admission) break; // decided elsewhere: the account's change event brings the answer
      this.waiting.shift();
      this.start(head, admission);
    }
    for (const entry of this.waiting) wake = Math.min(wake, entry.enqueuedAt + this.options.maxWaitMs - now);
    if (wake !== Infinity) this.cancelTimer = this.clock.setTimer(Math.max(0, wake), () => this.pump());
    this.emit();
  }

  private failWaiting(doomed: (entry: Entry<T>) => boolean, error: (entry: Entry<T>) => SendRejected): void {
    const failing = this.waiting.filter(doomed);
    if (!failing.length) return;
    this.waiting = this.waiting.filter((e) => !failing.includes(e));
    for (const entry of failing) {
      this.own.leave(entry.ticket);
      entry.reject(error(entry));
    }
  }

  private start(entry: Entry<T>, admission: Admission): void {
    entry.state = 'running';
    entry.attempt++;
    entry.controller = new AbortController();
    this.running.set(entry.id, entry);
    const admittedAt = this.clock.now();
    this.used.fire({ kind: 'admitted', at: admittedAt, tokens: admission.tokens, waitedMs: admittedAt - entry.enqueuedAt });
    let sent = false;
    let answered = false;
    const attempt: SendAttempt = {
      signal: entry.controller.signal,
      number: entry.attempt,
      sending: () => {
        sent = true;
      },
      serverAnswered: (accepted = true) => {
        sent = true;
        if (answered) return;
        answered = true;
        // A budget that sends one request at a time until the server answers it (concurrency not
        // known) may send the next now; any other waits for this send's settle, so that no minute
        // is planned on an estimate the server's count is about to correct.
        const head = this.waiting[0];
        const probing =
          accepted &&
          head &&
          this.account.limits.concurrency === 0 &&
          this.account.waitFor(head.ticket, head.tokens).limit === 'concurrency';
        this.own.confirm(admission);
        if (probing) queueMicrotask(() => !this.disposed && this.pump());
      },
    };
    let run: Promise<SendOutcome<T>>;
    try {
      run = entry.spec.run(attempt);
    } catch (error) {
      run = Promise.reject(error);
    }
    run
      .then(
        (outcome) => {
          if (outcome.promptTokens !== undefined && outcome.promptTokens > 0) {
            const before = admission.tokens;
            this.own.settle(admission, outcome.promptTokens + entry.spec.maxTokens);
            this.used.fire({ kind: 'settled', admittedAt, delta: admission.tokens - before });
          }
          this.finish(entry, admission);
          entry.resolve(outcome.value);
        },
        (error: unknown) => {
          if (!sent) {
            this.own.refund(admission); // the server never saw it
            this.used.fire({ kind: 'refunded', admittedAt, tokens: admission.tokens });
          }
          this.finish(entry, admission);
          if (entry.cancelled) {
            entry.reject(new SendRejected({ kind: 'cancelled', when: sent ? 'answering' : 'beforeSending' }));
          } else {
            const failure = this.retry(entry, this.classify(error), error);
            if (failure !== undefined) entry.reject(failure);
          }
        },
      )
      .finally(() => this.pump());
  }

  private finish(entry: Entry<T>, admission: Admission): void {
    this.running.delete(entry.id);
    this.own.release(admission);
  }

  /** Puts a refused send back in its place (the head, but for older refused ones) behind a pause; else returns what to fail it with. */
  private retry(entry: Entry<T>, verdict: Verdict, error: unknown): unknown {
    if (verdict.action === 'stop') {
      // Sends made in the next moments (an agent's loop, a burst) would be refused the same way.
      this.stopped = { until: this.clock.now() + (this.options.stopMs ?? 60_000), evidence: verdict.evidence };
      // Retrying cannot help, nor can sending what waits: each would be refused (and maybe charged) the same way.
      this.failWaiting(
        () => true,
        () => new SendRejected({ kind: 'accountStopped', evidence: verdict.evidence }),
      );
      return error;
    }
    if (verdict.action === 'pause' || verdict.action === 'waitForDay') this.learn(verdict);
    if (verdict.action === 'fail' || entry.attempt >= this.options.maxAttempts) return error;
    const now = this.clock.now();
    const delay = this.retryDelay(entry, verdict);
    if (verdict.action === 'waitForDay' && now + delay > entry.enqueuedAt + this.options.maxWaitMs) {
      // No pause for the others: the day's end is a worst-case guess, and a smaller send may still fit.
      return this.dayLimitRejection(verdict.evidence, delay);
    }
    this.pausedUntil = Math.max(this.pausedUntil, now + delay);
    this.lastRefusal = { at: now, evidence: verdict.evidence, until: this.pausedUntil };
    if (verdict.action === 'pause') this.used.fire({ kind: 'refused', at: now, until: this.pausedUntil });
    entry.state = 'waiting';
    const place = this.waiting.findIndex((e) => e.id > entry.id);
    this.waiting.splice(place < 0 ? this.waiting.length : place, 0, entry);
    this.own.join({ id: entry.ticket, tokens: entry.tokens, order: entry.enqueuedAt });
    return undefined;
  }

  /**
   * What a rate refusal teaches. A limit the server states and the budget held higher is adopted
   * for the whole account at once. A limit it names without a number, or states no lower than the
   * budget's (someone else on the account used the room), cuts this account's share of it. A
   * refusal that names no limit at all: what the server accepted in the last minute is taken as the
   * requests per minute, until proven otherwise — so no retry goes into a minute the server said is full.
   */
  private learn(verdict: Extract<Verdict, { action: 'pause' | 'waitForDay' }>): void {
    const now = this.clock.now();
    const limit = verdict.action === 'waitForDay' ? 'tokensPerDay' : verdict.limit;
    const held = this.account.limits;
    const { stated, scope } = verdict;
    if (limit && stated !== undefined && (held[limit] === 0 || stated < held[limit])) {
      this.own.learnLimit({ limit, value: stated, at: now, evidence: verdict.evidence, ...(scope ? { scope } : {}) });
      return;
    }
    if (limit && limit !== 'tokensPerDay') {
      this.own.learnRefusal(limit);
      return;
    }
    if (limit) return;
    // The refused request stays spent: the server had accepted the others of the minute.
    const accepted = Math.max(1, this.account.snapshot().requestsUsed - 1);
    if (accepted < held.requestsPerMinute)
      this.own.learnLimit({ limit: 'requestsPerMinute', value: accepted, at: now, evidence: verdict.evidence, guessed: true });
  }

  private retryDelay(entry: Entry<T>, verdict: Exclude<Verdict, { action: 'fail' | 'stop' }>): number {
    switch (verdict.action) {
      case 'pause':
        return verdict.afterMs ?? this.backoff(entry.attempt);
      case 'backoff':
        return Math.max(verdict.afterMs ?? 0, this.backoff(entry.attempt)); // the server's word is a floor
      case 'waitForDay':
        return this.account.dayFreesIn(verdict.excessTokens ?? entry.tokens);
    }
  }

  private dayLimitRejection(evidence: string, delay: number): SendRejected {
    return new SendRejected({
      kind: 'dayLimit',
      evidence,
      roomInMs: delay,
      maxWaitMs: this.options.maxWaitMs,
      tokensPerDaySet: this.account.limits.tokensPerDay > 0,
    });
  }

  /** Exponential backoff with "equal jitter": half fixed, half random. */
  private backoff(attempt: number): number {
    const exp = Math.min(this.options.backoffMaxMs, this.options.backoffBaseMs * 2 ** (attempt - 1));
    return exp / 2 + this.random() * (exp / 2);
  }

  private emit(): void {
    if (this.waiting.length !== this.lastLineLength) {
      this.lastLineLength = this.waiting.length;
      this.used.fire({ kind: 'line', at: this.clock.now(), waiting: this.waiting.length });
    }
    this.changed.fire();
  }
}
