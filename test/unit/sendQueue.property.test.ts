// The budget engine under random traffic on a manual clock: sends of random sizes that settle to
// random server counts, cancels, live limit changes, server refusals and clock jumps. Every
// admission is checked against a brute-force rolling-window reference built from the admission log.
import * as assert from 'node:assert/strict';
import fc from 'fast-check';
import { AccountState } from '../../src/core/account';
import { Budget } from '../../src/core/budget';
import { Limits } from '../../src/core/limits';
import { QueueOptions, SendQueue, SendRejected, Verdict } from '../../src/core/sendQueue';
import { ManualClock, settle } from '../support/manualClock';

const ENGINE_RUNS = 1_000;

const WINDOW_MS = 60_000;
const DAY_MS = 600_000; // a short "day", so that per-day limits come into play within a run
const MARGIN_MS = 1_000;
const SPAN = WINDOW_MS + MARGIN_MS;
const DAY_SPAN = DAY_MS + MARGIN_MS;
const OPTIONS: QueueOptions = { maxLength: 12, maxWaitMs: 900_000, maxAttempts: 3, backoffBaseMs: 1_000, backoffMaxMs: 60_000 };

type Outcome =
  | { kind: 'ok'; serverPrompt?: number }
  | { kind: 'pause'; afterMs?: number; limit?: 'requestsPerMinute' | 'tokensPerMinute' | 'concurrency' }
  | { kind: 'backoff'; afterMs?: number }
  | { kind: 'day'; excessTokens?: number }
  | { kind: 'fail' };

interface PlannedAttempt {
  /** Clock time between admission and the request leaving (a view, the key): a cancel meanwhile spends nothing. */
  prepMs: number;
  /** False: the attempt fails before its request leaves (the editor, the key), so the server never counts it. */
  leaves: boolean;
  durationMs: number;
  /** When the server's answer arrives (the spend is re-timed then), or never (no response at all). */
  answer: 'start' | 'end' | 'never';
  outcome: Outcome;
}

type Command =
  | { op: 'enqueue'; promptTokens: number; maxTokens: number; attempts: PlannedAttempt[] }
  | { op: 'cancel'; pick: number }
  | { op: 'limits'; limits: Limits }
  | { op: 'advance'; ms: number };

const optional = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: undefined });
const limitsArb: fc.Arbitrary<Limits> = fc.record({
  requestsPerMinute: fc.integer({ min: 1, max: 8 }),
  tokensPerMinute: fc.integer({ min: 1_000, max: 8_000 }),
  concurrency: fc.integer({ min: 0, max: 3 }),
  tokensPerDay: fc.oneof(fc.constant(0), fc.integer({ min: 2_000, max: 20_000 })),
});
const outcomeArb: fc.Arbitrary<Outcome> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('ok' as const), serverPrompt: optional(fc.integer({ min: 1, max: 3_000 })) }) },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('pause' as const),
      afterMs: optional(fc.integer({ min: 0, max: 300_000 })),
      // The limit the server named: the engine then learns that someone else uses the account.
      limit: optional(fc.constantFrom('requestsPerMinute' as const, 'tokensPerMinute' as const, 'concurrency' as const)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('backoff' as const), afterMs: optional(fc.integer({ min: 0, max: 120_000 })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('day' as const), excessTokens: optional(fc.integer({ min: 1, max: 30_000 })) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'fail' as const }) },
);
const attemptArb: fc.Arbitrary<PlannedAttempt> = fc.record({
  prepMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3_000 })),
  leaves: fc.oneof({ weight: 5, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }),
  durationMs: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 120_000 })),
  answer: fc.constantFrom('start' as const, 'end' as const, 'never' as const),
  outcome: outcomeArb,
});
const commandArb: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      op: fc.constant('enqueue' as const),
      promptTokens: fc.integer({ min: 1, max: 1_500 }),
      maxTokens: fc.integer({ min: 1, max: 1_000 }),
      attempts: fc.array(attemptArb, { maxLength: 3 }),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cancel' as const), pick: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('limits' as const), limits: limitsArb }) },
  {
    weight: 4,
    arbitrary: fc.record({
      op: fc.constant('advance' as const),
      ms: fc.oneof(fc.integer({ min: 0, max: 5_000 }), fc.integer({ min: 0, max: 120_000 }), fc.integer({ min: 0, max: 1_500_000 })),
    }),
  },
);

class Refusal extends Error {
  constructor(readonly verdict: Verdict) {
    super(`refused: ${verdict.action}`);
  }
}

/** One admission as the engine knew it: when it went out, when the server answered, its cost so far. */
interface Spend {
  at: number;
  answeredAt?: number;
  cost: number;
  /** Its request never left: the server never counted it, so the engine must have given it back. */
  unsent?: boolean;
}

/** Runs the commands, then drains, collecting every broken invariant (thrown from run() they would be swallowed). */
async function check(
  initial: Limits,
  commands: Command[],
  Engine: typeof Budget = Budget,
  /** Puts a fault into the queue, to show the checker sees it. */
  fault?: (queue: SendQueue<number>) => void,
): Promise<void> {
  const clock = new ManualClock();
  const budget = new Engine(initial, clock, undefined, { windowMs: WINDOW_MS, dayMs: DAY_MS, marginMs: MARGIN_MS });
  const queue = new SendQueue<number>(
    budget,
    clock,
    (e) => (e instanceof Refusal ? e.verdict : { action: 'fail' }),
    OPTIONS,
    () => 0.5,
  );
  fault?.(queue);
  const log: Spend[] = [];
  const broken: string[] = [];
  const accepted: number[] = [];
  const endings = new Map<number, number>();
  let pausedUntil = 0; // the reference's own account of the pauses the server asked for

  const windowOf = (t: number, span: number) => log.filter((s) => !s.unsent && (s.answeredAt ?? s.at) > t - span);
  const sum = (spends: Spend[]) => spends.reduce((total, s) => total + s.cost, 0);

  /** At admission: the oldest waiting send goes first; the windows as the engine knew them hold room under the limits then in force. */
  const checkAdmission = (spend: Spend, order: number): void => {
    const older = queue.entries().filter((e) => e.state === 'waiting' && Number(e.label) < order);
    if (older.length) broken.push(`send #${order} went out ahead of the older #${older[0].label}`);
    const { requestsPerMinute, tokensPerMinute, concurrency, tokensPerDay } = budget.currentLimits;
    const minute = windowOf(spend.at, SPAN);
    if (minute.length + 1 > requestsPerMinute) broken.push(`admitted request ${minute.length + 1} in a window, RPM ${requestsPerMinute}`);
    if (sum(minute) + spend.cost > tokensPerMinute)
      broken.push(`admitted ${sum(minute) + spend.cost} tokens in a window, TPM ${tokensPerMinute}`);
    const day = sum(windowOf(spend.at, DAY_SPAN)) + spend.cost;
    if (tokensPerDay > 0 && day > tokensPerDay) broken.push(`admitted ${day} tokens in a day, TPD ${tokensPerDay}`);
    if (concurrency > 0 && queue.runningCount > concurrency) broken.push(`${queue.runningCount} running, concurrency ${concurrency}`);
    if (spend.at < pausedUntil) broken.push(`admitted at ${spend.at}, during a server pause until ${pausedUntil}`);
  };

  /** Where the engine must pause after a refusal it retries (random() = 0.5: three quarters of the exponential step). */
  const notePause = (outcome: Outcome, attempt: number): void => {
    const backoff = 0.75 * Math.min(OPTIONS.backoffMaxMs, OPTIONS.backoffBaseMs * 2 ** (attempt - 1));
    if (outcome.kind === 'pause') pausedUntil = Math.max(pausedUntil, clock.now() + (outcome.afterMs ?? backoff));
    if (outcome.kind === 'backoff') pausedUntil = Math.max(pausedUntil, clock.now() + Math.max(outcome.afterMs ?? 0, backoff));
  };

  let enqueued = 0;
  const enqueue = ({ promptTokens, maxTokens, attempts }: Extract<Command, { op: 'enqueue' }>): void => {
    const order = ++enqueued;
    let ticket;
    try {
      ticket = queue.enqueue({
        label: String(order),
        promptTokens,
        maxTokens,
        run: ({ signal, number, sending, serverAnswered }) => {
          const spend: Spend = { at: clock.now(), cost: promptTokens + maxTokens };
          checkAdmission(spend, order);
          log.push(spend);
          const plan = attempts[number - 1] ?? { prepMs: 0, leaves: true, durationMs: 0, answer: 'start', outcome: { kind: 'ok' } };
          const answer = (): void => {
            serverAnswered();
            spend.answeredAt ??= clock.now();
          };
          return new Promise((resolve, reject) => {
            let left = false;
            let stop = (): void => {};
            const leave = (): void => {
              if (!plan.leaves) {
                spend.unsent = true;
                return reject(new Error('failed before the request left'));
              }
              left = true;
              sending();
              if (plan.answer === 'start') answer();
              stop = clock.setTimer(plan.durationMs, respond);
            };
            const respond = (): void => {
              if (plan.answer === 'end') answer();
              const { outcome } = plan;
              if (outcome.kind === 'ok') {
                if (outcome.serverPrompt) spend.cost = outcome.serverPrompt + maxTokens; // the engine settles to this
                return resolve({ value: number, promptTokens: outcome.serverPrompt });
              }
              if (number < OPTIONS.maxAttempts) notePause(outcome, number);
              reject(outcome.kind === 'fail' ? new Error('refused for good') : new Refusal(verdictOf(outcome)));
            };
            signal.addEventListener(
              'abort',
              () => {
                stop();
                if (!left) spend.unsent = true;
                reject(new Error('aborted'));
              },
              { once: true },
            );
            if (plan.prepMs === 0) leave();
            else stop = clock.setTimer(plan.prepMs, leave);
          });
        },
      });
    } catch (error) {
      if (!(error instanceof SendRejected)) throw error;
      return; // refused at once: never queued
    }
    accepted.push(ticket.id);
    const ended = (): void => void endings.set(ticket.id, (endings.get(ticket.id) ?? 0) + 1);
    ticket.result.then(ended, ended);
  };

  /** Nothing lost, nothing ended twice, no counter below zero, the counters equal to the reference. */
  const checkState = (): void => {
    const live = new Set(queue.entries().map((e) => e.id));
    for (const id of accepted) {
      const ended = endings.get(id) ?? 0;
      if (ended > 1) broken.push(`send ${id} ended ${ended} times`);
      if (ended === 0 && !live.has(id)) broken.push(`send ${id} was lost`);
      if (ended === 1 && live.has(id)) broken.push(`send ${id} ended but is still listed`);
    }
    const snapshot = budget.snapshot();
    const counters = { ...snapshot, waiting: queue.waitingCount, running: queue.runningCount };
    for (const [name, value] of Object.entries(counters)) if (typeof value === 'number' && value < 0) broken.push(`${name} is ${value}`);
    if (snapshot.inFlight !== queue.runningCount) broken.push(`inFlight ${snapshot.inFlight} but ${queue.runningCount} running`);
    const minute = windowOf(clock.now(), SPAN);
    if (snapshot.requestsUsed !== minute.length || snapshot.tokensUsed !== sum(minute)) {
      broken.push(
        `snapshot says ${snapshot.requestsUsed} requests / ${snapshot.tokensUsed} tokens, the reference ${minute.length} / ${sum(minute)}`,
      );
    }
    const day = sum(windowOf(clock.now(), DAY_SPAN));
    if (snapshot.limits.tokensPerDay > 0 && snapshot.tokensUsedToday !== day)
      broken.push(`snapshot says ${snapshot.tokensUsedToday} tokens today, the reference ${day}`);
  };

  for (const command of commands) {
    if (command.op === 'enqueue') enqueue(command);
    if (command.op === 'cancel' && accepted.length) queue.cancel(accepted[command.pick % accepted.length]);
    if (command.op === 'limits') {
      budget.setLimits(command.limits);
      queue.replan();
    }
    if (command.op === 'advance') await clock.advance(command.ms);
    else await settle();
    checkState();
    if (broken.length) break;
  }
  // Drain: every send must end, by an answer, a failure or its maximum wait.
  for (let i = 0; i < 10 && (queue.waitingCount || queue.runningCount || clock.pendingTimers); i++) await clock.advance(DAY_SPAN);
  checkState();
  for (const id of accepted) if (endings.get(id) !== 1) broken.push(`send ${id} never ended`);
  if (clock.pendingTimers) broken.push(`${clock.pendingTimers} timers left with nothing to do`);
  assert.deepEqual(broken, []);
}

function verdictOf(outcome: Exclude<Outcome, { kind: 'ok' | 'fail' }>): Verdict {
  if (outcome.kind === 'day') return { action: 'waitForDay', excessTokens: outcome.excessTokens, evidence: 'TPD rate limit' };
  if (outcome.kind === 'pause')
    return { action: 'pause', afterMs: outcome.afterMs, limit: outcome.limit, evidence: 'paused by the server' };
  return { action: outcome.kind, afterMs: outcome.afterMs, evidence: `${outcome.kind} by the server` };
}

describe('the budget engine under random traffic (property)', function () {
  this.timeout(120_000);

  it(`never over-admits, never loses or double-ends a send, never lets a counter go negative (${ENGINE_RUNS} runs)`, async () => {
    await fc.assert(
      fc.asyncProperty(limitsArb, fc.array(commandArb, { minLength: 10, maxLength: 60 }), (limits, commands) => check(limits, commands)),
      { numRuns: ENGINE_RUNS },
    );
  });

  it('the reference and the invariants catch an engine that over-admits', async () => {
    /** Forgets requests per minute: admits whatever fits the tokens. */
    class RpmBlindBudget extends Budget {
      waitFor(tokens: number) {
        const wait = super.waitFor(tokens);
        return wait.limit === 'requestsPerMinute' ? { ms: 0, limit: null } : wait;
      }
    }
    const limits = { requestsPerMinute: 1, tokensPerMinute: 6_000, concurrency: 0, tokensPerDay: 0 };
    const two: Command[] = [0, 1].map(() => ({ op: 'enqueue', promptTokens: 10, maxTokens: 10, attempts: [] }));
    await check(limits, [two[0], { op: 'advance', ms: SPAN }, two[1]]);
    await assert.rejects(check(limits, two, RpmBlindBudget), /admitted request 2 in a window, RPM 1/);
  });

  it('the reference catches an engine that keeps the units of a request that never left, and one that gives back a request the server saw', async () => {
    /** Never gives units back: a send that failed before it left stays spent. */
    class NoRefundBudget extends Budget {
      refund(admission: Parameters<Budget['refund']>[0]) {
        this.release(admission);
      }
    }
    /** Gives back whatever ends, sent or not. */
    class RefundAllBudget extends Budget {
      private inner = false;
      release(admission: Parameters<Budget['release']>[0]) {
        if (this.inner) return super.release(admission);
        this.inner = true;
        super.refund(admission); // refund() frees the slot through release()
        this.inner = false;
      }
    }
    const limits = { requestsPerMinute: 5, tokensPerMinute: 6_000, concurrency: 0, tokensPerDay: 0 };
    const attempt = (leaves: boolean): PlannedAttempt => ({
      prepMs: 100,
      leaves,
      durationMs: 100,
      answer: 'start',
      outcome: { kind: 'fail' },
    });
    const unsent: Command[] = [
      { op: 'enqueue', promptTokens: 10, maxTokens: 10, attempts: [attempt(false)] },
      { op: 'advance', ms: 1_000 },
    ];
    const sent: Command[] = [
      { op: 'enqueue', promptTokens: 10, maxTokens: 10, attempts: [attempt(true)] },
      { op: 'advance', ms: 1_000 },
    ];
    await check(limits, unsent);
    await check(limits, sent);
    await assert.rejects(check(limits, unsent, NoRefundBudget), /snapshot says 1 requests \/ 20 tokens, the reference 0 \/ 0/);
    await assert.rejects(check(limits, sent, RefundAllBudget), /snapshot says 0 requests \/ 0 tokens, the reference 1 \/ 20/);
  });

  describe('it rejects an engine that breaks any one of the rules it checks', () => {
    const send = (attempts: PlannedAttempt[] = [], promptTokens = 10, maxTokens = 10): Command => ({
      op: 'enqueue',
      promptTokens,
      maxTokens,
      attempts,
    });
    const roomy: Limits = { requestsPerMinute: 10, tokensPerMinute: 8_000, concurrency: 0, tokensPerDay: 0 };
    /** An engine blind to one limit: it admits whatever fits the others. */
    const blindTo = (limit: string): typeof Budget =>
      class extends Budget {
        waitFor(tokens: number) {
          const wait = super.waitFor(tokens);
          return wait.limit === limit ? { ms: 0, limit: null } : wait;
        }
      };
    const slow: PlannedAttempt = { prepMs: 0, leaves: true, durationMs: 5_000, answer: 'start', outcome: { kind: 'ok' } };
    const cases: {
      rule: string;
      limits: Limits;
      commands: Command[];
      Engine?: typeof Budget;
      fault?: (q: SendQueue<number>) => void;
      says: RegExp;
    }[] = [
      {
        rule: 'tokens per minute',
        limits: { ...roomy, tokensPerMinute: 1_000 },
        commands: [send([], 400, 200), send([], 400, 200)],
        Engine: blindTo('tokensPerMinute'),
        says: /admitted 1200 tokens in a window, TPM 1000/,
      },
      {
        rule: 'tokens per day',
        limits: { ...roomy, tokensPerDay: 2_000 },
        commands: [send([], 500, 500), { op: 'advance', ms: SPAN }, send([], 500, 500), { op: 'advance', ms: SPAN }, send([], 500, 500)],
        Engine: blindTo('tokensPerDay'),
        says: /admitted 3000 tokens in a day, TPD 2000/,
      },
      {
        rule: 'concurrency',
        limits: { ...roomy, concurrency: 1 },
        commands: [send([slow]), send([slow])],
        Engine: blindTo('concurrency'),
        says: /2 running, concurrency 1/,
      },
      {
        rule: 'first in, first out',
        limits: { ...roomy, requestsPerMinute: 1 },
        commands: [send(), { op: 'advance', ms: 1 }, send(), { op: 'advance', ms: 1 }, send(), { op: 'advance', ms: SPAN }],
        // The account admits any send that fits, not only its line's head, and the queue asks for its newest first.
        fault: (queue) => {
          const inner = queue as unknown as { account: { state: AccountState }; waiting: unknown[] };
          const state = inner.account.state;
          state.waitFor = (_ticket: string, tokens: number) => state.budget.waitFor(tokens);
          inner.waiting.push = function (this: unknown[], ...items: unknown[]) {
            return Array.prototype.unshift.apply(this, items);
          };
        },
        says: /send #3 went out ahead of the older #2/,
      },
      {
        rule: "the server's pause",
        limits: roomy,
        commands: [
          send([{ ...slow, durationMs: 10, outcome: { kind: 'pause', afterMs: 30_000, limit: 'tokensPerMinute' } }]),
          { op: 'advance', ms: 100 },
        ],
        // Forgets every pause the server asked for.
        fault: (queue) => Object.defineProperty(queue, 'pausedUntil', { get: () => 0, set: () => undefined }),
        says: /during a server pause until/,
      },
      {
        rule: 'no send lost',
        limits: { ...roomy, requestsPerMinute: 1 },
        commands: [send(), send(), { op: 'cancel', pick: 1 }],
        // Drops a cancelled send without ending it.
        fault: (queue) => {
          const inner = queue as unknown as { waiting: { id: number }[] };
          queue.cancel = (id: number) => {
            const i = inner.waiting.findIndex((e) => e.id === id);
            if (i >= 0) inner.waiting.splice(i, 1);
            return i >= 0;
          };
        },
        says: /send 2 was lost/,
      },
    ];
    for (const c of cases) {
      it(`${c.rule}: the right engine passes, the faulty one is caught`, async () => {
        await check(c.limits, c.commands);
        await assert.rejects(check(c.limits, c.commands, c.Engine, c.fault), c.says);
      });
    }
  });
});
