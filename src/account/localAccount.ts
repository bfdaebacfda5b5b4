import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { AccountImage, AccountOp, AccountSnapshot, AccountState, AccountStore, LineTicket, LineWait } from '../core/account';
import { Admission, Budget, BudgetOptions, DEFAULT_BUDGET_OPTIONS, Exceeded, SharedLimit } from '../core/budget';
import { Clock } from '../core/clock';
import { Emitter, Event } from '../core/event';
import { Ledger, MemoryLedger, Spend } from '../core/ledger';
import { LearnedLimit, Limits } from '../core/limits';
import { SpendJournal } from './spendJournal';

/**
 * The account's budget shared by every window of this machine that uses it (same base URL, same
 * key). One window, the coordinator, keeps the account's state and decides every admission; the
 * others reach it over a local socket, keep a copy fed by the coordinator's ops, and take over from
 * that copy when the coordinator closes, crashes or stops answering. See docs/shared-budget.md.
 */
export interface LocalAccountOptions {
  /** A fingerprint of the account (see `accountIdentity`), never the key. */
  readonly identity: string;
  /** This window. */
  readonly holder: string;
  readonly limits: Limits;
  readonly clock: Clock;
  /** Spends this window kept from before (a reload): the account's start, if this window is the first. */
  readonly ledger?: Ledger;
  readonly budgetOptions?: BudgetOptions;
  /** The folder of the socket; by default a per-user one (`socketFolder()`). */
  readonly folder?: string;
  /** How often windows tell each other they are alive. */
  readonly heartbeatMs?: number;
  /** Silence after which a window (or the coordinator) counts as gone. */
  readonly staleMs?: number;
  /**
   * Whether the account's spends are recorded in a file before anyone hears of them (default on),
   * so that no window's end can make the next one forget a spend (see `SpendJournal`).
   */
  readonly journal?: boolean;
  readonly log?: (message: string) => void;
}

export type Role = 'connecting' | 'coordinator' | 'follower' | 'alone';

/** The account: the base URL and a hash of the key, so that no file name or message carries the key. */
export function accountIdentity(baseUrl: string, apiKey: string | undefined): string {
  return createHash('sha256')
    .update(`kimi-budget account\n${baseUrl}\n${apiKey ?? ''}`)
    .digest('hex')
    .slice(0, 24);
}

/** A per-user folder for the sockets, readable by nobody else: the runtime folder, else one in the temp folder. */
export function socketFolder(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  if (runtime && process.platform !== 'win32') return path.join(runtime, 'kimi-budget');
  return path.join(os.tmpdir(), `kimi-budget-${os.userInfo().username}`);
}

type ToCoordinator =
  | { t: 'hello'; holder: string; limits: Limits; tickets: LineTicket[]; running: Spend[] }
  | { t: 'op'; op: AccountOp }
  | { t: 'admit'; ticket: string; tokens: number; spendId: string }
  | { t: 'beat' };
type ToFollower =
  | { t: 'welcome'; image: AccountImage; coordinator: string }
  | { t: 'op'; op: AccountOp }
  | { t: 'no'; ticket: string; waitMs: number | null }
  | { t: 'beat' };

const MAX_LINE = 4 << 20;
const PROBE_MS = 1_000;
/**
 * How long after its admission a request whose answer never began can still have reached the
 * server: the client gives up on a server silent for a minute (`KimiClient`'s idle timeout).
 */
export const UNANSWERED_MS = 60_000;

interface Welcomed {
  readonly socket: net.Socket;
  readonly welcome: ToFollower & { t: 'welcome' };
  /** The rest of the stream, and lines that came with the welcome. */
  readonly rest: Lines;
  readonly after: string[];
}

export class LocalAccountStore implements AccountStore {
  readonly holder: string;
  private readonly changed = new Emitter<void>();
  readonly onDidChange: Event<void> = this.changed.event;
  private readonly state: AccountState;
  private role: Role = 'connecting';
  private problem: string | undefined;
  private ownLimits: Limits;
  private readonly socketPath: string;
  private readonly lockPath: string;
  private readonly heartbeatMs: number;
  private readonly staleMs: number;
  private readonly clock: Clock;
  private readonly log: (message: string) => void;
  private journal: SpendJournal | undefined;

  /** This window's waiting tickets and running spends: what it declares to a new coordinator. */
  private readonly mine = new Map<string, LineTicket>();
  private readonly myRunning = new Map<string, Spend>();
  /** Follower: admissions asked for, granted, refused until, and given up while asked. */
  private readonly pending = new Set<string>();
  private readonly granted = new Map<string, Admission>();
  private readonly refusedUntil = new Map<string, number>();
  private readonly abandoned = new Set<string>();
  private outbox: ToCoordinator[] = [];

  private server: net.Server | undefined;
  private serverIno: number | undefined;
  private readonly peers = new Map<net.Socket, { holder?: string; seen: number }>();
  private link: net.Socket | undefined;
  private linkSeen = 0;
  private coordinatorHolder: string | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private electing: Promise<void> | undefined;
  private disposed = false;

  constructor(options: LocalAccountOptions) {
    this.holder = options.holder;
    this.clock = options.clock;
    this.ownLimits = options.limits;
    this.heartbeatMs = options.heartbeatMs ?? 500;
    this.staleMs = options.staleMs ?? 3_000;
    this.log = options.log ?? (() => undefined);
    const budget = new Budget(
      options.limits,
      options.clock,
      options.ledger ?? new MemoryLedger(),
      options.budgetOptions ?? DEFAULT_BUDGET_OPTIONS,
    );
    this.state = new AccountState(options.clock, budget);
    this.state.apply({ op: 'limits', holder: this.holder, limits: options.limits });
    const folder = options.folder ?? socketFolder();
    this.socketPath =
      process.platform === 'win32'
        ? `\\\\.\\pipe\\kimi-budget-${os.userInfo().username}-${options.identity}`
        : path.join(folder, `${options.identity}.sock`);
    this.lockPath = path.join(folder, `${options.identity}.lock`);
    try {
      prepareFolder(folder);
    } catch (error) {
      this.degrade(`the folder for the shared budget (${folder}) cannot be used: ${message(error)}`);
      return;
    }
    if (options.journal !== false) {
      this.journal = new SpendJournal(path.join(folder, `${options.identity}.journal`), (problem) => this.log(problem));
      // What the last window to keep the account recorded, if it ended a moment ago.
      this.state.merge(this.journal.read(this.clock.now(), UNANSWERED_MS));
    }
    this.ticker = setInterval(() => this.tick(), this.heartbeatMs);
    this.ticker.unref?.();
    this.elect();
  }

  /** Who keeps the account's state: this window, another, nobody yet, or this window alone (sharing failed). */
  get currentRole(): Role {
    return this.role;
  }

  /** What this window knows of the line and its own asks, for logs and tests. */
  describe(): object {
    return {
      role: this.role,
      line: this.state.tickets.map((t) => t.id),
      mine: [...this.mine.keys()],
      pending: [...this.pending],
      granted: [...this.granted.keys()],
      refusedUntil: [...this.refusedUntil].map(([id, until]) => [id, until - this.clock.now()]),
      running: this.state.budget.runningSpends().map((s) => s.id),
    };
  }

  /** Resolves once this window is a coordinator, a follower, or alone. */
  async ready(): Promise<void> {
    while (this.role === 'connecting' && !this.disposed) await this.electing;
  }

  get limits(): Limits {
    return this.state.limits;
  }

  get tickets(): readonly LineTicket[] {
    return this.state.tickets;
  }

  setLimits(limits: Limits): void {
    this.ownLimits = limits;
    this.submit({ op: 'limits', holder: this.holder, limits });
  }

  exceeds(tokens: number): Exceeded | undefined {
    return this.state.exceeds(tokens);
  }

  join(ticket: Omit<LineTicket, 'holder'>): void {
    const full = { ...ticket, holder: this.holder };
    this.mine.set(ticket.id, full);
    this.refusedUntil.delete(ticket.id);
    this.submit({ op: 'join', ticket: full });
  }

  leave(id: string): void {
    this.mine.delete(id);
    const granted = this.granted.get(id);
    if (granted) {
      // Admitted for a send that is no longer wanted: its request never left.
      this.granted.delete(id);
      this.refund(granted);
    }
    if (this.pending.delete(id)) this.abandoned.add(id);
    if (this.state.tickets.some((t) => t.id === id)) this.submit({ op: 'leave', id });
  }

  waitFor(ticket: string, tokens: number): LineWait {
    if (this.granted.has(ticket)) return { ms: 0, limit: null };
    if (this.pending.has(ticket) || this.role === 'connecting') return { ms: Infinity, limit: null };
    const wait = this.state.waitFor(ticket, tokens);
    const refused = (this.refusedUntil.get(ticket) ?? 0) - this.clock.now();
    return refused > wait.ms ? { ms: refused, limit: wait.limit } : wait;
  }

  tryAdmit(ticket: string, tokens: number, spendId: string): Admission | undefined {
    const granted = this.granted.get(ticket);
    if (granted) {
      this.granted.delete(ticket);
      this.mine.delete(ticket);
      return granted;
    }
    if (this.waitFor(ticket, tokens).ms !== 0) return undefined;
    if (this.role === 'follower') {
      this.pending.add(ticket);
      this.send({ t: 'admit', ticket, tokens, spendId });
      return undefined;
    }
    if (this.role === 'coordinator' && !this.stillCoordinator()) return undefined;
    const spend: Spend = { id: spendId, at: this.clock.now(), requests: 1, tokens, holder: this.holder };
    this.mine.delete(ticket);
    this.myRunning.set(spendId, spend);
    this.submit({ op: 'admit', ticket, spend });
    return { spendId, tokens, released: false };
  }

  settle(admission: Admission, tokens: number): void {
    admission.tokens = tokens;
    const spend = this.myRunning.get(admission.spendId);
    if (spend) this.myRunning.set(spend.id, { ...spend, tokens });
    this.submit({ op: 'settle', id: admission.spendId, tokens });
  }

  confirm(admission: Admission): void {
    const at = this.clock.now();
    const spend = this.myRunning.get(admission.spendId);
    if (spend) this.myRunning.set(spend.id, { ...spend, at });
    this.submit({ op: 'confirm', id: admission.spendId, at });
  }

  refund(admission: Admission): void {
    admission.released = true;
    this.myRunning.delete(admission.spendId);
    this.submit({ op: 'refund', id: admission.spendId });
  }

  release(admission: Admission): void {
    if (admission.released) return;
    admission.released = true;
    this.myRunning.delete(admission.spendId);
    this.submit({ op: 'release', id: admission.spendId });
  }

  learnRefusal(limit: SharedLimit): void {
    this.submit({ op: 'refusal', limit, at: this.clock.now() });
  }

  learnLimit(learned: LearnedLimit): void {
    this.submit({ op: 'learned', learned });
  }

  forgetLearned(): void {
    this.submit({ op: 'forget' });
  }

  dayFreesIn(tokens: number): number {
    return this.state.budget.dayFreesIn(tokens);
  }

  plan(notBefore: number): Map<string, number | undefined> {
    return this.state.plan(notBefore);
  }

  snapshot(): AccountSnapshot {
    const sharing = this.role === 'alone' ? 'degraded' : this.state.holders.length > 1 ? 'shared' : 'alone';
    return { ...this.state.snapshotFor(this.holder), sharing, sharingProblem: this.problem, ownLimits: this.ownLimits };
  }

  /** The spends of the account this window knows, to keep across a reload. */
  get ledger(): Pick<Ledger, 'since'> {
    return this.state.budget.ledgerView;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    clearInterval(this.ticker);
    this.link?.destroy();
    for (const socket of this.peers.keys()) socket.destroy();
    this.stopServing();
    this.changed.dispose();
  }

  // --- every change -------------------------------------------------------------------------

  /** A change from this window: applied here at once, and by the coordinator for everyone. */
  private submit(op: AccountOp): void {
    this.record(op);
    this.state.apply(op);
    if (this.role === 'coordinator') this.broadcast({ t: 'op', op });
    else if (this.role === 'follower') this.send({ t: 'op', op });
    else if (this.role === 'connecting') this.outbox.push({ t: 'op', op });
    this.changed.fire();
  }

  private broadcast(message: ToFollower): void {
    const line = JSON.stringify(message) + '\n';
    for (const [socket, peer] of this.peers) if (peer.holder) socket.write(line);
  }

  private send(message: ToCoordinator): void {
    if (this.link && this.role === 'follower') this.link.write(JSON.stringify(message) + '\n');
    else this.outbox.push(message);
  }

  // --- finding the coordinator -------------------------------------------------------------

  /** `stalled`: the coordinator stopped answering, so only a takeover (under the lock) helps. */
  private elect(stalled = false): void {
    if (this.electing || this.disposed) return;
    this.role = 'connecting';
    this.electing = this.findCoordinator(stalled)
      .catch((error: unknown) => this.degrade(`the windows could not agree on a shared budget: ${message(error)}`))
      .finally(() => {
        this.electing = undefined;
        this.changed.fire();
      });
  }

  private async findCoordinator(stalled: boolean): Promise<void> {
    for (let attempt = 0; !this.disposed; attempt++) {
      if (attempt > 200) throw new Error('no coordinator after 200 tries');
      if (await this.tryServe()) return;
      // A live coordinator answers a hello within milliseconds; a second is plenty on a loaded machine.
      const socket = stalled && attempt === 0 ? undefined : await this.tryConnect(PROBE_MS);
      if (socket) return this.follow(socket);
      // Nobody answers on the socket: a leftover of a crash, or a coordinator that stopped. One
      // window at a time (under the lock) checks again and takes its place.
      await this.underLock(async () => {
        const again = await this.tryConnect(PROBE_MS / 2);
        if (again) {
          this.follow(again);
          return;
        }
        this.log('the shared budget had no live coordinator: this window takes over');
        try {
          fs.unlinkSync(this.socketPath);
        } catch {
          // already gone
        }
        await this.tryServe();
      });
      if (this.role !== 'connecting') return;
      await delay(20 + Math.random() * 80);
    }
  }

  private tryServe(): Promise<boolean> {
    return new Promise((resolve) => {
      const server = net.createServer((socket) => this.accept(socket));
      server.once('error', () => resolve(false));
      server.listen(this.socketPath, () => {
        server.removeAllListeners('error');
        server.on('error', (error) => this.log(`shared budget socket: ${message(error)}`));
        this.server = server;
        try {
          this.serverIno = fs.statSync(this.socketPath).ino;
          fs.chmodSync(this.socketPath, 0o600);
        } catch {
          this.serverIno = undefined;
        }
        this.lead();
        resolve(true);
      });
    });
  }

  /** Connects and waits for the coordinator's welcome; undefined when nobody answers in time. */
  private tryConnect(timeoutMs = this.staleMs): Promise<Welcomed | undefined> {
    return new Promise((resolve) => {
      const socket = net.connect(this.socketPath);
      const lines = new Lines();
      const done = (value: Welcomed | undefined) => {
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        if (!value) socket.destroy();
        resolve(value);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      socket.once('error', () => done(undefined));
      socket.once('close', () => done(undefined));
      socket.once('connect', () => {
        const hello: ToCoordinator = {
          t: 'hello',
          holder: this.holder,
          limits: this.ownLimits,
          tickets: [...this.mine.values()],
          running: [...this.myRunning.values()],
        };
        socket.write(JSON.stringify(hello) + '\n');
      });
      socket.on('data', (chunk: Buffer) => {
        let first: string | undefined;
        let after: string[];
        try {
          [first, ...after] = lines.push(chunk);
        } catch {
          return done(undefined);
        }
        if (first === undefined) return;
        const welcome = parse(first) as ToFollower | undefined;
        if (welcome?.t === 'welcome') done({ socket, welcome, rest: lines, after });
        else done(undefined);
      });
    });
  }

  private async underLock(work: () => Promise<void>): Promise<void> {
    const deadline = Date.now() + this.staleMs * 3;
    for (;;) {
      try {
        fs.mkdirSync(this.lockPath);
        break;
      } catch {
        // Held: by a window taking over now, or by one that died doing it (stale after a while).
        try {
          if (Date.now() - fs.statSync(this.lockPath).mtimeMs > this.staleMs * 2) fs.rmdirSync(this.lockPath);
        } catch {
          // gone meanwhile
        }
        if (Date.now() > deadline) return;
        await delay(25 + Math.random() * 50);
        if (this.role !== 'connecting') return;
        const socket = await this.tryConnect(PROBE_MS / 2);
        if (socket) return this.follow(socket);
      }
    }
    try {
      await work();
    } finally {
      try {
        fs.rmdirSync(this.lockPath);
      } catch {
        // removed as stale by another window
      }
    }
  }

  // --- as coordinator ----------------------------------------------------------------------

  private lead(): void {
    const previous = this.coordinatorHolder;
    this.role = 'coordinator';
    this.coordinatorHolder = this.holder;
    this.problem = undefined;
    // Asks made of the last coordinator: this window decides them itself now.
    this.pending.clear();
    this.refusedUntil.clear();
    // The windows that followed the last coordinator come back and declare what they hold; the
    // last coordinator itself is gone, and so are its waiting sends and slots.
    if (previous && previous !== this.holder) this.state.apply({ op: 'gone', holder: previous });
    for (const holder of this.state.holders) if (holder !== this.holder) this.state.apply({ op: 'gone', holder });
    if (this.journal) {
      // The record holds every spend the last coordinator admitted, up to its last moment; from now
      // on this window writes it, starting from all it knows.
      this.state.merge(this.journal.read(this.clock.now(), UNANSWERED_MS));
      this.journal.rewrite(this.journalState());
    }
    this.redeclare();
    this.flushOutbox();
    this.log('this window keeps the shared budget');
    this.changed.fire();
  }

  private accept(socket: net.Socket): void {
    const peer = { holder: undefined as string | undefined, seen: Date.now() };
    this.peers.set(socket, peer);
    const lines = new Lines();
    socket.on('data', (chunk: Buffer) => {
      peer.seen = Date.now();
      try {
        for (const line of lines.push(chunk)) this.onPeerMessage(socket, peer, parse(line) as ToCoordinator | undefined);
      } catch (error) {
        this.log(`a window sent what the shared budget cannot read (${message(error)}): it is disconnected`);
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.dropPeer(socket));
  }

  private onPeerMessage(socket: net.Socket, peer: { holder?: string }, msg: ToCoordinator | undefined): void {
    if (!msg || this.role !== 'coordinator') return;
    if (msg.t === 'hello') {
      // What it declares reaches the others as ops, and it, in the welcome's image; ops follow.
      const holder = String(msg.holder);
      this.applyAndTell({ op: 'limits', holder, limits: msg.limits });
      // A send it still runs may not have reached the server yet (its window stalled, or a
      // coordinator was lost): its units are counted from now, the latest the server can take it.
      const now = this.clock.now();
      for (const spend of msg.running ?? [])
        this.applyAndTell({ op: 'admit', ticket: '', spend: { ...spend, holder, at: Math.max(spend.at, now) } });
      for (const ticket of msg.tickets ?? []) this.applyAndTell({ op: 'join', ticket: { ...ticket, holder } });
      const welcome: ToFollower = { t: 'welcome', image: this.state.image(), coordinator: this.holder };
      socket.write(JSON.stringify(welcome) + '\n');
      peer.holder = holder;
      this.changed.fire();
      return;
    }
    if (!peer.holder) return;
    if (msg.t === 'op') {
      this.applyAndTell(msg.op);
      this.changed.fire();
    } else if (msg.t === 'admit') {
      if (!this.stillCoordinator()) return;
      const wait = this.state.waitFor(msg.ticket, msg.tokens);
      if (wait.ms === 0 && this.state.tickets.some((t) => t.id === msg.ticket)) {
        const spend: Spend = { id: String(msg.spendId), at: this.clock.now(), requests: 1, tokens: msg.tokens, holder: peer.holder };
        this.applyAndTell({ op: 'admit', ticket: msg.ticket, spend });
        this.changed.fire();
      } else {
        const refusal: ToFollower = { t: 'no', ticket: msg.ticket, waitMs: Number.isFinite(wait.ms) ? wait.ms : null };
        socket.write(JSON.stringify(refusal) + '\n');
      }
    }
  }

  private applyAndTell(op: AccountOp): void {
    this.record(op);
    this.state.apply(op);
    this.broadcast({ t: 'op', op });
  }

  /**
   * The window that keeps the account (or keeps its own) writes each change to a spend into the
   * record before it takes effect: before the follower that asked hears it may send, before this
   * window's own request leaves.
   */
  private record(op: AccountOp): void {
    if (!this.journal || (this.role !== 'coordinator' && this.role !== 'alone')) return;
    // A window gone: its running sends ended with it.
    const ops: AccountOp[] = op.op === 'gone' ? this.state.budget.slotsOf(op.holder).map((id): AccountOp => ({ op: 'release', id })) : [op];
    for (const one of ops) this.journal.write(one, () => this.journalState());
  }

  private journalState(): { kept: readonly Spend[]; running: readonly Spend[] } {
    return { kept: this.state.image().spends, running: this.state.budget.runningSpends() };
  }

  private dropPeer(socket: net.Socket): void {
    const peer = this.peers.get(socket);
    this.peers.delete(socket);
    if (!peer?.holder || this.role !== 'coordinator') return;
    // Its waiting sends leave the line and its slots come back; what it spent stays spent.
    this.applyAndTell({ op: 'gone', holder: peer.holder });
    this.changed.fire();
  }

  /** Closing removes the socket file: done only while the file is still this window's. */
  private stopServing(): void {
    if (this.server && this.stillOurs()) this.server.close();
    else this.server?.unref();
    this.server = undefined;
    this.serverIno = undefined;
  }

  private stillOurs(): boolean {
    if (process.platform === 'win32') return true;
    try {
      return this.serverIno !== undefined && fs.statSync(this.socketPath).ino === this.serverIno;
    } catch {
      return false;
    }
  }

  // --- as follower -------------------------------------------------------------------------

  private follow({ socket, welcome, rest, after }: Welcomed): void {
    this.link = socket;
    this.linkSeen = Date.now();
    this.role = 'follower';
    this.problem = undefined;
    this.coordinatorHolder = welcome.coordinator;
    this.state.load(welcome.image);
    this.pending.clear();
    this.refusedUntil.clear();
    const onMessage = (line: string) => this.onCoordinatorMessage(parse(line) as ToFollower | undefined);
    for (const line of after) onMessage(line);
    socket.on('data', (chunk: Buffer) => {
      this.linkSeen = Date.now();
      try {
        for (const line of rest.push(chunk)) onMessage(line);
      } catch (error) {
        this.log(`the shared budget's coordinator sent what cannot be read (${message(error)})`);
        socket.destroy();
      }
    });
    socket.on('error', () => socket.destroy());
    socket.on('close', () => {
      if (this.link !== socket) return;
      this.link = undefined;
      this.log('the window that kept the shared budget is gone: finding the next');
      this.elect();
    });
    this.flushOutbox();
    this.changed.fire();
  }

  private onCoordinatorMessage(msg: ToFollower | undefined): void {
    if (!msg) return;
    if (msg.t === 'op') {
      this.state.apply(msg.op);
      if (msg.op.op === 'admit' && msg.op.spend.holder === this.holder) this.granted_(msg.op.ticket, msg.op.spend);
      this.changed.fire();
    } else if (msg.t === 'no') {
      this.pending.delete(msg.ticket);
      if (msg.waitMs !== null) this.refusedUntil.set(msg.ticket, this.clock.now() + Math.max(10, msg.waitMs));
      this.changed.fire();
    }
  }

  private granted_(ticket: string, spend: Spend): void {
    if (!this.pending.delete(ticket) && !this.abandoned.has(ticket)) return;
    this.myRunning.set(spend.id, spend);
    const admission: Admission = { spendId: spend.id, tokens: spend.tokens, released: false };
    if (this.abandoned.delete(ticket)) this.refund(admission);
    else this.granted.set(ticket, admission);
  }

  private redeclare(): void {
    const now = this.clock.now();
    for (const ticket of this.mine.values()) this.state.apply({ op: 'join', ticket });
    for (const spend of this.myRunning.values()) {
      const op: AccountOp = { op: 'admit', ticket: '', spend: { ...spend, at: Math.max(spend.at, now) } };
      this.record(op);
      this.state.apply(op);
    }
    this.state.apply({ op: 'limits', holder: this.holder, limits: this.ownLimits });
  }

  private flushOutbox(): void {
    const queued = this.outbox;
    this.outbox = [];
    // A coordinator has applied them already (submit did); a follower sends them on.
    if (this.role === 'follower') for (const msg of queued) if (msg.t === 'op') this.send(msg);
  }

  // --- liveness ----------------------------------------------------------------------------

  private tick(): void {
    const now = Date.now();
    if (this.role === 'coordinator') {
      this.broadcast({ t: 'beat' });
      for (const [socket, peer] of this.peers) if (now - peer.seen > this.staleMs) socket.destroy(); // gone on close
      this.stillCoordinator();
    } else if (this.role === 'follower') {
      this.send({ t: 'beat' });
      if (now - this.linkSeen > this.staleMs) {
        this.log('the window that keeps the shared budget stopped answering: taking over');
        const link = this.link;
        this.link = undefined;
        link?.destroy();
        this.elect(true);
      }
    }
  }

  /**
   * Whether this window still keeps the account: a window stalled for longer than the others wait
   * finds, when it wakes, that another took the socket's path. It then follows, before it admits
   * anything more on its own.
   */
  private stillCoordinator(): boolean {
    if (this.role !== 'coordinator') return false;
    if (this.stillOurs()) return true;
    this.log('another window took over the shared budget: following it');
    for (const socket of this.peers.keys()) socket.destroy();
    // Not closed: closing a socket server removes the file at its path, which is now the new
    // coordinator's. Nobody can reach this one any more; it is let go with the process.
    const server = this.server;
    server?.removeAllListeners('connection');
    server?.on('connection', (socket: net.Socket) => socket.destroy());
    server?.unref();
    this.server = undefined;
    this.serverIno = undefined;
    this.elect();
    return false;
  }

  private degrade(problem: string): void {
    this.role = 'alone';
    this.problem = problem;
    this.log(`${problem}; this window keeps its own budget`);
    this.redeclare();
    this.outbox = [];
    this.changed.fire();
  }
}

/** Newline-delimited JSON, with a bound on a line. */
class Lines {
  private buffer = '';

  push(chunk: Buffer): string[] {
    this.buffer += chunk.toString('utf8');
    if (this.buffer.length > MAX_LINE && !this.buffer.includes('\n')) throw new Error('a message over 4 MiB');
    const lines = this.buffer.split('\n');
    this.buffer = lines.pop() ?? '';
    return lines.filter((l) => l.length > 0);
  }
}

function parse(line: string): unknown {
  const value: unknown = JSON.parse(line);
  return typeof value === 'object' && value !== null ? value : undefined;
}

function prepareFolder(folder: string): void {
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  if (process.platform === 'win32') return; // a folder of the user's own profile: its access list is the user's
  const stat = fs.statSync(folder);
  if (typeof process.getuid === 'function' && stat.uid !== process.getuid()) throw new Error('it belongs to another user');
  if ((stat.mode & 0o077) !== 0) fs.chmodSync(folder, 0o700);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
