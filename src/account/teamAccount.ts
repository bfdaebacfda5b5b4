import { randomBytes } from 'node:crypto';
import { AccountSnapshot, AccountState, AccountStore, LineTicket, LineWait, MemoryAccountStore } from '../core/account';
import { Admission, Budget, BudgetOptions, DEFAULT_BUDGET_OPTIONS, Exceeded, SharedLimit } from '../core/budget';
import { Clock } from '../core/clock';
import { Emitter, Event } from '../core/event';
import { Ledger, MemoryLedger, Spend } from '../core/ledger';
import { LearnedLimit, LimitName, Limits, withLearned } from '../core/limits';
import { TeamConnection } from './teamConnection';

/**
 * The account's budget shared by a team through Redis: every member's every window admits against
 * one budget, in one line, decided by one script on the server with the server's clock (see
 * teamScript.ts). Each window keeps a copy of the team's minute for its status bar and its plans,
 * refreshed when anything changes; only the script admits. When Redis cannot be reached, the window
 * goes on with a budget of its own at a conservative share of the limits, and declares what it did
 * when Redis is back. See docs/team-budget.md.
 */
export interface TeamAccountOptions {
  readonly connection: TeamConnection;
  /** This window: unique across the team. */
  readonly holder: string;
  /** This machine, as a prefix of its windows' holders, to tell teammates from other windows here. */
  readonly machine: string;
  readonly limits: Limits;
  readonly clock: Clock;
  /** Spends this window kept from before (a reload), counted while Redis is not reached. */
  readonly ledger?: Ledger;
  readonly budgetOptions?: BudgetOptions;
  /** How often a window tells the team it is alive (and renews its slots' leases). */
  readonly heartbeatMs?: number;
  /** Silence after which a window counts as gone: its waiting sends leave the line. */
  readonly staleMs?: number;
  /** How long a running send's slot is held without a heartbeat (a window that died gives it back then). */
  readonly leaseMs?: number;
  /** The part of the limits a window uses while Redis is out of reach and the team's size is unknown. */
  readonly unknownShare?: number;
  readonly log?: (message: string) => void;
}

export type TeamMode = 'connecting' | 'online' | 'offline';

interface StateReply {
  now: number;
  spends: [string, number, number, string][] | Record<string, never>;
  running: [string, number, number, string][] | Record<string, never>;
  line: [string, string, number, number][] | Record<string, never>;
  members: string[] | Record<string, never>;
  lim: string[] | Record<string, never>;
  day: [number, number, number];
  epoch: string;
}

type AdmitReply = { ok: true; at: number; now: number } | { ok: false; limit: LimitName | 'line' | 'gone'; waitMs?: number; now: number };

const list = <T>(value: T[] | Record<string, never> | undefined): T[] => (Array.isArray(value) ? value : []);

export class TeamAccountStore implements AccountStore {
  readonly holder: string;
  private readonly changed = new Emitter<void>();
  readonly onDidChange: Event<void> = this.changed.event;
  private readonly connection: TeamConnection;
  private readonly clock: Clock;
  private readonly options: BudgetOptions;
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly leaseMs: number;
  private readonly unknownShare: number;
  private readonly log: (message: string) => void;
  private readonly machine: string;
  private ownLimits: Limits;

  /** Redis time minus this machine's, from the last reply: the copy's clock is Redis's. */
  private offset = 0;
  private readonly redisClock: Clock;
  /** The team's budget as last read from Redis, with this window's steps since applied. */
  private readonly mirror: AccountState;
  private members = 0;
  private epoch = '';
  private mode: TeamMode = 'connecting';
  private problem: string | undefined;
  /** While Redis is out of reach: this window's own budget, at its share. */
  private fallback: MemoryAccountStore | undefined;
  private fallbackShare = 1;
  /**
   * For one window after Redis is back, the fallback's budget still binds this window too: members
   * not back yet go on spending their shares, which Redis does not see until they declare them.
   */
  private probation: { store: MemoryAccountStore; until: number } | undefined;

  private readonly mine = new Map<string, LineTicket>();
  /** This window's running sends, at this machine's clock: declared again when Redis comes back. */
  private readonly myRunning = new Map<string, Spend>();
  /** Spends admitted while Redis was out of reach, declared when it is back. */
  private readonly offlineSpends = new Map<string, Spend>();
  /** Settles, releases and refunds of online admissions made while offline, done again when back. */
  private replay: (() => Promise<unknown>)[] = [];
  private readonly pending = new Set<string>();
  private readonly granted = new Map<string, Admission>();
  private readonly refusedUntil = new Map<string, number>();
  private readonly abandoned = new Set<string>();

  private ticker: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> | undefined;
  private refreshAgain = false;
  private beating = false;
  private disposed = false;

  constructor(options: TeamAccountOptions) {
    this.holder = options.holder;
    this.machine = options.machine;
    this.connection = options.connection;
    this.clock = options.clock;
    this.options = options.budgetOptions ?? DEFAULT_BUDGET_OPTIONS;
    this.heartbeatMs = options.heartbeatMs ?? 500;
    this.staleMs = options.staleMs ?? 3_000;
    this.leaseMs = options.leaseMs ?? 15_000;
    this.unknownShare = options.unknownShare ?? 0.5;
    this.log = options.log ?? (() => undefined);
    this.ownLimits = options.limits;
    this.redisClock = { now: () => this.clock.now() + this.offset, setTimer: (ms, fn) => this.clock.setTimer(ms, fn) };
    this.mirror = new AccountState(this.redisClock, new Budget(options.limits, this.redisClock, new MemoryLedger(), this.options));
    this.mirror.apply({ op: 'limits', holder: this.holder, limits: options.limits });
    if (options.ledger)
      for (const spend of options.ledger.since(this.clock.now() - this.options.dayMs)) this.offlineSpends.set(spend.id, spend);
    this.connection.onMessage(() => this.refresh());
    this.connection.onLost((error) => this.goOffline(error));
    this.ticker = setInterval(() => void this.beat(), this.heartbeatMs);
    this.ticker.unref?.();
    void this.beat();
  }

  get currentMode(): TeamMode {
    return this.mode;
  }

  /** Resolves once the window knows whether the team budget is reached. */
  async ready(): Promise<void> {
    while (this.mode === 'connecting' && !this.disposed) await new Promise((r) => setTimeout(r, 10));
  }

  get limits(): Limits {
    return this.fallback ? this.fallback.limits : this.mirror.limits;
  }

  get tickets(): readonly LineTicket[] {
    return this.fallback ? this.fallback.tickets : this.mirror.tickets;
  }

  setLimits(limits: Limits): void {
    this.ownLimits = limits;
    this.mirror.apply({ op: 'limits', holder: this.holder, limits });
    this.fallback?.setLimits(scaled(limits, this.fallbackShare));
    this.changed.fire();
  }

  exceeds(tokens: number): Exceeded | undefined {
    // Against the whole of the account's limits: a send too large for the share fits once Redis is back.
    return this.mirror.exceeds(tokens);
  }

  join(ticket: Omit<LineTicket, 'holder'>): void {
    const full = { ...ticket, holder: this.holder };
    this.mine.set(ticket.id, full);
    this.refusedUntil.delete(ticket.id);
    if (this.fallback) this.fallback.join(ticket);
    else {
      this.mirror.apply({ op: 'join', ticket: { ...full, order: this.redisClock.now() } });
      this.call(['join', ticket.id, this.holder, String(ticket.tokens), limitsArg(this.declaredLimits())]);
    }
    this.changed.fire();
  }

  leave(id: string): void {
    this.mine.delete(id);
    const granted = this.granted.get(id);
    if (granted) {
      this.granted.delete(id);
      this.refund(granted);
    }
    if (this.pending.delete(id)) this.abandoned.add(id);
    if (this.fallback) this.fallback.leave(id);
    if (this.mirror.tickets.some((t) => t.id === id)) this.mirror.apply({ op: 'leave', id });
    if (this.mode === 'online') this.call(['leave', id]);
    this.changed.fire();
  }

  waitFor(ticket: string, tokens: number): LineWait {
    if (this.granted.has(ticket)) return { ms: 0, limit: null };
    if (this.fallback) return this.fallback.waitFor(ticket, tokens);
    if (this.pending.has(ticket) || this.mode === 'connecting') return { ms: Infinity, limit: null };
    let wait = this.mirror.waitFor(ticket, tokens);
    const share = this.onProbation()?.state.budget.waitFor(tokens);
    if (share && share.ms > wait.ms) wait = share;
    const refused = (this.refusedUntil.get(ticket) ?? 0) - this.clock.now();
    return refused > wait.ms ? { ms: refused, limit: wait.limit } : wait;
  }

  private onProbation(): MemoryAccountStore | undefined {
    if (this.probation && this.clock.now() >= this.probation.until) {
      this.probation.store.dispose();
      this.probation = undefined;
    }
    return this.probation?.store;
  }

  tryAdmit(ticket: string, tokens: number, spendId: string): Admission | undefined {
    const granted = this.granted.get(ticket);
    if (granted) {
      this.granted.delete(ticket);
      this.mine.delete(ticket);
      return granted;
    }
    if (this.fallback) {
      const admission = this.fallback.tryAdmit(ticket, tokens, spendId);
      if (admission) {
        const spend: Spend = { id: spendId, at: this.clock.now(), requests: 1, tokens, holder: this.holder };
        this.mine.delete(ticket);
        this.offlineSpends.set(spendId, spend);
        this.myRunning.set(spendId, spend);
      }
      return admission;
    }
    if (this.waitFor(ticket, tokens).ms !== 0) return undefined;
    this.pending.add(ticket);
    const sentAt = this.clock.now();
    this.run(['admit', ticket, this.holder, spendId, String(tokens), limitsArg(this.declaredLimits())])
      .then((raw) => this.onAdmitReply(ticket, spendId, tokens, JSON.parse(raw) as AdmitReply, sentAt))
      .catch((error: unknown) => {
        // Maybe done: asked again under the same id once Redis is back, the stored result answers.
        this.pending.delete(ticket);
        this.goOffline(error);
      });
    return undefined;
  }

  settle(admission: Admission, tokens: number): void {
    admission.tokens = tokens;
    const spend = this.myRunning.get(admission.spendId);
    if (spend) this.myRunning.set(spend.id, { ...spend, tokens });
    const offline = this.offlineSpends.get(admission.spendId);
    if (offline) this.offlineSpends.set(offline.id, { ...offline, tokens });
    this.step(admission, (f) => f.settle(admission, tokens), ['settle', admission.spendId, String(tokens)], {
      op: 'settle',
      id: admission.spendId,
      tokens,
    });
  }

  confirm(admission: Admission): void {
    const spend = this.myRunning.get(admission.spendId);
    if (spend) this.myRunning.set(spend.id, { ...spend, at: this.clock.now() });
    this.step(admission, (f) => f.confirm(admission), ['confirm', admission.spendId], {
      op: 'confirm',
      id: admission.spendId,
      at: this.redisClock.now(),
    });
  }

  refund(admission: Admission): void {
    admission.released = true;
    this.myRunning.delete(admission.spendId);
    this.offlineSpends.delete(admission.spendId);
    this.step(admission, (f) => f.refund({ ...admission, released: false }), ['refund', admission.spendId], {
      op: 'refund',
      id: admission.spendId,
    });
  }

  release(admission: Admission): void {
    if (admission.released) return;
    admission.released = true;
    this.myRunning.delete(admission.spendId);
    this.step(admission, (f) => f.release({ ...admission, released: false }), ['release', admission.spendId], {
      op: 'release',
      id: admission.spendId,
    });
  }

  learnRefusal(limit: SharedLimit): void {
    this.mirror.apply({ op: 'refusal', limit, at: this.redisClock.now() });
    this.fallback?.learnRefusal(limit);
    this.changed.fire();
  }

  /**
   * A limit the server stated: this window declares it to the team as part of its limits (the
   * smallest of every member's apply to all), from its next message to Redis on.
   */
  learnLimit(learned: LearnedLimit): void {
    this.mirror.apply({ op: 'learned', learned });
    this.fallback?.learnLimit(learned);
    this.changed.fire();
  }

  forgetLearned(): void {
    this.mirror.apply({ op: 'forget' });
    this.fallback?.forgetLearned();
    this.changed.fire();
  }

  /** What this window declares to the team: its settings, and what it learned from the server. */
  private declaredLimits(): Limits {
    return withLearned(this.ownLimits, this.mirror.learned);
  }

  dayFreesIn(tokens: number): number {
    return (this.fallback?.state.budget ?? this.mirror.budget).dayFreesIn(tokens);
  }

  plan(notBefore: number): Map<string, number | undefined> {
    if (this.fallback) return this.fallback.plan(notBefore);
    // The copy counts in Redis's time; the queue in this machine's.
    const etas = this.mirror.plan(notBefore + this.offset);
    for (const [id, at] of etas) if (at !== undefined) etas.set(id, at - this.offset);
    return etas;
  }

  snapshot(): AccountSnapshot {
    const teammates = { requests: 0, tokens: 0 };
    const since = this.redisClock.now() - this.options.windowMs - this.options.marginMs;
    for (const spend of this.mirror.budget.ledgerView.since(since))
      if (spend.holder && !spend.holder.startsWith(this.machine)) {
        teammates.requests += spend.requests;
        teammates.tokens += spend.tokens;
      }
    const team = { connected: this.mode === 'online', members: this.members, teammates, problem: this.problem };
    if (this.fallback) {
      const s = this.fallback.snapshot();
      // Times in the fallback are this machine's already.
      return { ...s, sharing: 'team', team, ownLimits: this.ownLimits, limitsDiffer: false };
    }
    const s = this.mirror.snapshotFor(this.holder);
    return {
      ...s,
      nextReturnAt: s.nextReturnAt === undefined ? undefined : s.nextReturnAt - this.offset,
      sharing: 'team',
      team,
      ownLimits: this.ownLimits,
    };
  }

  /** The spends of the team's minute and this window's offline ones, to keep across a reload. */
  get ledger(): Pick<Ledger, 'since'> {
    return (this.fallback?.state.budget ?? this.mirror.budget).ledgerView;
  }

  describe(): object {
    return {
      mode: this.mode,
      line: this.tickets.map((t) => t.id),
      mine: [...this.mine.keys()],
      pending: [...this.pending],
      granted: [...this.granted.keys()],
      running: [...this.myRunning.keys()],
      offset: this.offset,
    };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.ticker);
    const leaving = [...this.mine.keys()];
    const running = [...this.myRunning.keys()];
    // Gives the team its line and slots back at once, rather than when the heartbeat goes stale.
    void Promise.all([...leaving.map((id) => this.run(['leave', id])), ...running.map((id) => this.run(['release', id]))])
      .catch(() => undefined)
      .finally(() => this.connection.close());
    this.fallback?.dispose();
    this.probation?.store.dispose();
    this.changed.dispose();
  }

  // --- talking to Redis ----------------------------------------------------------------------

  /** The script with the spans this window counts in (its settings; tests shorten them). */
  private run(args: readonly string[]): Promise<string> {
    const { windowMs, dayMs, marginMs } = this.options;
    const spans = [windowMs + marginMs, dayMs + marginMs, this.staleMs, this.leaseMs].map(String);
    return this.connection.run([args[0], ...spans, ...args.slice(1)]);
  }

  private call(args: string[]): void {
    this.run(args)
      .then(() => this.refresh())
      .catch((error: unknown) => this.goOffline(error));
  }

  /** A step on an admission: on the fallback while offline; in Redis (and the copy) while online. */
  private step(
    admission: Admission,
    offline: (f: MemoryAccountStore) => void,
    args: string[],
    op: Parameters<AccountState['apply']>[0],
  ): void {
    if (this.fallback) {
      if (this.fallback.state.budget.ledgerView.get(admission.spendId)) offline(this.fallback);
      // Redis may hold it too (admitted before the loss): the same step is done there when it is back.
      if (!this.offlineSpends.has(admission.spendId)) this.replay.push(() => this.run(args));
    } else {
      const probation = this.onProbation();
      if (probation?.state.budget.ledgerView.get(admission.spendId)) offline(probation);
      this.mirror.apply(op);
      if (this.mode === 'online') this.call(args);
      else this.replay.push(() => this.run(args));
    }
    this.changed.fire();
  }

  private onAdmitReply(ticket: string, spendId: string, tokens: number, reply: AdmitReply, sentAt: number): void {
    this.learnOffset(reply.now, sentAt);
    this.pending.delete(ticket);
    if (reply.ok) {
      const spend: Spend = { id: spendId, at: reply.at, requests: 1, tokens, holder: this.holder };
      this.mirror.apply({ op: 'admit', ticket, spend });
      this.myRunning.set(spendId, { ...spend, at: reply.at - this.offset });
      this.onProbation()?.state.budget.take({ ...spend, at: reply.at - this.offset });
      const admission: Admission = { spendId, tokens, released: false };
      if (this.abandoned.delete(ticket)) this.refund(admission);
      else this.granted.set(ticket, admission);
    } else if (reply.limit === 'gone') {
      // Counted as gone (a stall longer than the team waits): it takes its place again.
      const mine = this.mine.get(ticket);
      if (mine) this.call(['join', ticket, this.holder, String(mine.tokens), limitsArg(this.declaredLimits())]);
    } else if (reply.limit === 'line') {
      this.refresh();
    } else {
      const waitMs = reply.waitMs === undefined || reply.waitMs < 0 ? this.heartbeatMs : Math.max(5, reply.waitMs);
      this.refusedUntil.set(ticket, this.clock.now() + waitMs);
      this.refresh();
    }
    this.changed.fire();
  }

  /** Reads the team's state into the copy; one read at a time, one more if asked meanwhile. */
  private refresh(): void {
    if (this.disposed || this.fallback) return;
    if (this.refreshing) {
      this.refreshAgain = true;
      return;
    }
    const sentAt = this.clock.now();
    this.refreshing = this.run(['state'])
      .then((raw) => this.load(JSON.parse(raw) as StateReply, sentAt))
      .catch((error: unknown) => this.goOffline(error))
      .finally(() => {
        this.refreshing = undefined;
        if (this.refreshAgain) {
          this.refreshAgain = false;
          this.refresh();
        }
      });
  }

  private load(state: StateReply, sentAt: number): void {
    if (this.fallback || this.disposed) return;
    this.learnOffset(state.now, sentAt);
    const spends: Spend[] = list(state.spends).map(([id, at, tokens, holder]) => ({ id, at, requests: 1, tokens, holder }));
    const [dayRequests, dayTokens, dayOldest] = state.day;
    const minuteRequests = spends.length;
    const minuteTokens = spends.reduce((sum, s) => sum + s.tokens, 0);
    const earlier: Spend[] =
      dayRequests > minuteRequests
        ? [
            {
              id: 'earlier-today',
              at: Math.min(dayOldest, spends[0]?.at ?? dayOldest),
              requests: dayRequests - minuteRequests,
              tokens: Math.max(0, dayTokens - minuteTokens),
            },
          ]
        : [];
    const running: Spend[] = list(state.running).map(([id, at, tokens, holder]) => ({ id, at, requests: 1, tokens, holder }));
    const line: LineTicket[] = list(state.line).map(([id, holder, tokens, order]) => ({ id, holder, tokens, order }));
    const lim = list(state.lim);
    const limits: { holder: string; limits: Limits }[] = [];
    for (let i = 0; i + 1 < lim.length; i += 2) {
      const parsed = parseLimits(lim[i + 1]);
      if (parsed) limits.push({ holder: lim[i], limits: parsed });
    }
    if (!limits.some((l) => l.holder === this.holder)) limits.push({ holder: this.holder, limits: this.ownLimits });
    this.members = Math.max(1, list(state.members).length);
    // Own asks not answered yet stay as this window knows them.
    for (const ticket of this.pending)
      if (!line.some((t) => t.id === ticket) && this.mine.has(ticket)) line.unshift(this.mine.get(ticket)!);
    this.mirror.load({ spends: [...earlier, ...spends], running, line, limits, cuts: this.mirror.budget.cutsImage() });
    // A join that reached Redis late (sent before a loss, done after it) leaves again.
    for (const ticket of line)
      if (ticket.holder === this.holder && !this.mine.has(ticket.id) && !this.pending.has(ticket.id)) this.call(['leave', ticket.id]);
    // A window counted as gone (it stalled) takes its waiting sends' places again.
    for (const ticket of this.mine.values())
      if (!line.some((t) => t.id === ticket.id) && !this.pending.has(ticket.id) && !this.granted.has(ticket.id))
        this.call(['join', ticket.id, this.holder, String(ticket.tokens), limitsArg(this.declaredLimits())]);
    if (state.epoch && this.epoch && state.epoch !== this.epoch)
      this.redeclare('Redis lost the team budget').catch((error: unknown) => this.goOffline(error));
    if (state.epoch) this.epoch = state.epoch;
    this.changed.fire();
  }

  private learnOffset(redisNow: number, sentAt: number): void {
    const local = (sentAt + this.clock.now()) / 2;
    this.offset = redisNow - local;
  }

  // --- liveness ------------------------------------------------------------------------------

  private async beat(): Promise<void> {
    if (this.beating || this.disposed) return;
    this.beating = true;
    try {
      if (this.mode === 'connecting') await this.connection.connected;
      const sentAt = this.clock.now();
      const epoch = this.epoch || randomBytes(8).toString('hex');
      const raw = await this.run(['beat', this.holder, limitsArg(this.declaredLimits()), epoch, ...this.myRunning.keys()]);
      const reply = JSON.parse(raw) as { epoch: string; now: number; lost: string[] | Record<string, never> };
      this.learnOffset(reply.now, sentAt);
      if (this.mode !== 'online') await this.comeBack(reply.epoch);
      else if (this.epoch && reply.epoch !== this.epoch) {
        this.epoch = reply.epoch;
        await this.redeclare('Redis lost the team budget');
      } else if (list(reply.lost).length) await this.redeclare('this window was counted as gone');
      this.epoch = reply.epoch;
      this.refresh();
    } catch (error) {
      this.goOffline(error);
    } finally {
      this.beating = false;
    }
  }

  private goOffline(error: unknown): void {
    if (this.disposed) return;
    const problem = describeRedisError(error);
    if (this.fallback) {
      this.problem = problem;
      return;
    }
    const members = this.mode === 'online' ? this.members : 0;
    this.mode = 'offline';
    this.problem = problem;
    this.fallbackShare = members > 0 ? 1 / members : this.unknownShare;
    this.log(
      `the team budget is offline (${problem}): this window keeps ${Math.round(this.fallbackShare * 100)}% of the limits until it is back`,
    );
    // What the team spent this minute, as last seen, stays spent; this window may use its share of the rest.
    const ledger = new MemoryLedger();
    for (const spend of this.mirror.budget.ledgerView.since(this.redisClock.now() - this.options.dayMs))
      ledger.record({ ...spend, at: spend.at - this.offset });
    for (const spend of this.offlineSpends.values()) ledger.record(spend);
    const fallback = MemoryAccountStore.create(scaled(this.ownLimits, this.fallbackShare), this.clock, ledger, this.options, this.holder);
    for (const spend of this.myRunning.values()) fallback.state.budget.take(spend);
    for (const ticket of this.mine.values()) if (!this.granted.has(ticket.id)) fallback.join(ticket);
    fallback.onDidChange(() => this.changed.fire());
    this.pending.clear();
    this.refusedUntil.clear();
    this.fallback = fallback;
    this.changed.fire();
  }

  /** Redis answers again: what this window did meanwhile is declared, then the team decides again. */
  private async comeBack(epoch: string): Promise<void> {
    const wasOffline = this.mode === 'offline';
    this.epoch = epoch;
    await this.declare();
    const replay = this.replay;
    this.replay = [];
    for (const step of replay) await step();
    this.probation?.store.dispose();
    this.probation = this.fallback && { store: this.fallback, until: this.clock.now() + this.options.windowMs + this.options.marginMs };
    this.fallback = undefined;
    this.offlineSpends.clear();
    this.mode = 'online';
    this.problem = undefined;
    if (wasOffline) this.log('the team budget is back');
    this.changed.fire();
  }

  private async redeclare(why: string): Promise<void> {
    this.log(`${why}: this window declares what it holds again`);
    await this.declare();
    this.refresh();
  }

  /** This window's spends (with their age, so no clock of this machine is read there), slots and line. */
  private async declare(): Promise<void> {
    const now = this.clock.now();
    const spends = new Map<string, { id: string; age: number; tokens: number; running: boolean }>();
    for (const s of this.offlineSpends.values()) spends.set(s.id, { id: s.id, age: now - s.at, tokens: s.tokens, running: false });
    for (const s of this.mirror.budget.ledgerView.since(this.redisClock.now() - this.options.windowMs - this.options.marginMs))
      if (s.holder === this.holder) spends.set(s.id, { id: s.id, age: this.redisClock.now() - s.at, tokens: s.tokens, running: false });
    for (const s of this.myRunning.values()) spends.set(s.id, { id: s.id, age: 0, tokens: s.tokens, running: true });
    const tickets = [...this.mine.values()].filter((t) => !this.granted.has(t.id)).map((t) => ({ id: t.id, tokens: t.tokens }));
    const epoch = this.epoch || randomBytes(8).toString('hex');
    await this.run([
      'declare',
      this.holder,
      limitsArg(this.declaredLimits()),
      epoch,
      JSON.stringify({ spends: [...spends.values()], tickets }),
    ]);
  }
}

function limitsArg(l: Limits): string {
  return [l.requestsPerMinute, l.tokensPerMinute, l.concurrency, l.tokensPerDay].map((v) => Math.max(0, Math.floor(v))).join(',');
}

function parseLimits(text: string): Limits | undefined {
  const m = /^(\d+),(\d+),(\d+),(\d+)$/.exec(text);
  if (!m) return undefined;
  return { requestsPerMinute: +m[1], tokensPerMinute: +m[2], concurrency: +m[3], tokensPerDay: +m[4] };
}

/** A share of every limit, never below one request, one slot or the tokens of... at least one token. */
function scaled(l: Limits, share: number): Limits {
  const part = (v: number) => (v > 0 ? Math.max(1, Math.floor(v * share)) : 0);
  return {
    requestsPerMinute: part(l.requestsPerMinute),
    tokensPerMinute: part(l.tokensPerMinute),
    concurrency: part(l.concurrency),
    tokensPerDay: part(l.tokensPerDay),
  };
}

/** What went wrong with Redis, in words that name the problem (never the password). */
export function describeRedisError(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  if (/WRONGPASS|invalid username-password/i.test(text))
    return 'Redis refused the password: set it again with "Kimi: Set Team Redis Password"';
  if (/NOAUTH/i.test(text)) return 'Redis asks for a password: set it with "Kimi: Set Team Redis Password"';
  if (/certificate|SSL|TLS|self.signed|EPROTO/i.test(text)) return `the TLS connection to Redis failed (${text})`;
  if (/ECONNREFUSED/.test(text)) return 'Redis refused the connection (is it running at that address?)';
  if (/ENOTFOUND|EAI_AGAIN/.test(text)) return "Redis's host name could not be found";
  if (/timeout|timed out/i.test(text)) return 'Redis did not answer in time';
  if (/closed|ECONNRESET|EPIPE|Socket/i.test(text)) return 'the connection to Redis was lost';
  return text.replace(/redis(s)?:\/\/[^@\s]*@/gi, 'redis$1://');
}
