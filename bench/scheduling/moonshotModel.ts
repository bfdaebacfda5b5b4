import type { Clock } from '../../src/core/clock';

/** An account's limits; 0 means none for concurrency and tokens per day. */
export interface AccountLimits {
  readonly rpm: number;
  readonly tpm: number;
  readonly concurrency: number;
  readonly tpd: number;
}

export interface ServerRules {
  /** Rolling window of RPM and TPM. */
  readonly windowMs: number;
  readonly dayMs: number;
  /** Moonshot's documentation: "failed and retried requests still count": a refusal is charged like an admission. */
  readonly chargeRefused: boolean;
  /** The oracle's idea of the one-way delay (the mean of latencyMs). */
  readonly nominalLatencyMs: number;
  /** One-way network delay of one message, drawn per message. */
  latencyMs(): number;
  /** From admission to the answer's last byte, for an answer of this many tokens. */
  answerMs(outputTokens: number): number;
}

export interface ChatCall {
  readonly client: string;
  readonly promptTokens: number;
  readonly maxTokens: number;
  /** How long the answer will be (the model decides; the client cannot know). */
  readonly outputTokens: number;
}

export interface Answer {
  /** Server time at which the request was admitted. */
  readonly admittedAt: number;
  /** The server's `usage.prompt_tokens`. */
  readonly promptTokens: number;
  readonly completionTokens: number;
}

export type LimitHit = 'concurrency' | 'rpm' | 'tpm' | 'tpd';

/** Moonshot's 429 `rate_limit_reached_error`, with the message a real client would read. */
export class Refusal extends Error {
  constructor(
    readonly limit: LimitHit,
    readonly serverMessage: string,
  ) {
    super(serverMessage);
  }

  /** The HTTP body, as Moonshot sends it. */
  get body(): string {
    return JSON.stringify({ error: { type: 'rate_limit_reached_error', message: this.serverMessage } });
  }
}

/** One debit of the account's budget, admitted or (when refusals are charged) refused. */
export interface Charge {
  readonly at: number;
  readonly client: string;
  readonly tokens: number;
  readonly admitted: boolean;
}

export interface ClientTally {
  requests: number;
  admitted: number;
  refused: Record<LimitHit, number>;
  /** Budget debited by refused requests (0 unless refusals are charged). */
  burntRequests: number;
  burntTokens: number;
}

const PREFIX = 'Your account org-sim<ak-sim> request reached organization';

/**
 * Moonshot's admission rules as its documentation states them, in-process on a Clock: rolling
 * windows for RPM and TPM, a request charged 1 request and prompt + max_tokens tokens when it is
 * admitted, concurrency held until the answer's last byte, 429 bodies with Moonshot's messages
 * ("please try again after N seconds" for RPM and concurrency, "current:x, limit:y" for TPM/TPD).
 * Every client of a run talks to one instance, so they share one account.
 */
export class MoonshotModel {
  readonly charges: Charge[] = [];
  private readonly tallies = new Map<string, ClientTally>();
  private minuteFrom = 0;
  private minuteRequests = 0;
  private minuteTokens = 0;
  private dayFrom = 0;
  private dayTokens = 0;
  /** When each answer being streamed ends. */
  private streaming: number[] = [];

  constructor(
    private readonly clock: Clock,
    readonly limits: AccountLimits,
    readonly rules: ServerRules,
  ) {}

  /** A client's request: it travels, is admitted or refused, and the answer (or the 429) travels back. */
  chat(call: ChatCall, onResponse?: () => void): Promise<Answer> {
    return new Promise((resolve, reject) => {
      this.clock.setTimer(this.rules.latencyMs(), () => {
        const back = this.rules.latencyMs();
        const outcome = this.receive(call);
        if (outcome instanceof Refusal) {
          this.clock.setTimer(back, () => {
            onResponse?.();
            reject(outcome);
          });
          return;
        }
        this.clock.setTimer(back, () => onResponse?.()); // the stream's headers
        this.clock.setTimer(outcome.durationMs + back, () => resolve(outcome.answer));
      });
    });
  }

  /** The oracle's send: it arrives exactly now, so it must fit now. */
  admitNow(call: ChatCall): Promise<Answer> {
    if (!this.fits(call.promptTokens + call.maxTokens)) throw new Error('the oracle sent a request that does not fit');
    const { answer, durationMs } = this.admit(call, call.promptTokens + call.maxTokens);
    const back = this.rules.latencyMs();
    return new Promise((resolve) => this.clock.setTimer(durationMs + back, () => resolve(answer)));
  }

  fits(charge: number): boolean {
    this.slide();
    return this.refusalFor(charge) === undefined;
  }

  /** The first instant from `from` on at which `charge` would be admitted, if nobody else sends meanwhile. */
  earliestFit(charge: number, from: number): number {
    this.slide();
    const { rpm, tpm, tpd, concurrency } = this.limits;
    const { windowMs, dayMs } = this.rules;
    let at = Math.max(
      from,
      this.roomAt(this.minuteFrom, windowMs, from, () => 1, rpm, 1),
    );
    at = Math.max(
      at,
      this.roomAt(this.minuteFrom, windowMs, from, (c) => c.tokens, tpm, charge),
    );
    if (tpd)
      at = Math.max(
        at,
        this.roomAt(this.dayFrom, dayMs, from, (c) => c.tokens, tpd, charge),
      );
    if (concurrency && this.streaming.length >= concurrency) {
      const ends = [...this.streaming].sort((a, b) => a - b);
      at = Math.max(at, ends[this.streaming.length - concurrency]);
    }
    return at;
  }

  tally(client: string): ClientTally {
    let tally = this.tallies.get(client);
    if (!tally) {
      tally = { requests: 0, admitted: 0, refused: { concurrency: 0, rpm: 0, tpm: 0, tpd: 0 }, burntRequests: 0, burntTokens: 0 };
      this.tallies.set(client, tally);
    }
    return tally;
  }

  private receive(call: ChatCall): { answer: Answer; durationMs: number } | Refusal {
    this.slide();
    const tally = this.tally(call.client);
    tally.requests++;
    const charge = call.promptTokens + call.maxTokens;
    const refusal = this.refusalFor(charge);
    if (!refusal) return this.admit(call, charge);
    tally.refused[refusal.limit]++;
    if (this.rules.chargeRefused) {
      this.record(call.client, charge, false);
      tally.burntRequests++;
      tally.burntTokens += charge;
    }
    return refusal;
  }

  private admit(call: ChatCall, charge: number): { answer: Answer; durationMs: number } {
    const now = this.clock.now();
    this.record(call.client, charge, true);
    this.tally(call.client).admitted++;
    const completionTokens = Math.min(call.outputTokens, call.maxTokens);
    const durationMs = Math.ceil(this.rules.answerMs(completionTokens));
    this.streaming.push(now + durationMs);
    this.clock.setTimer(durationMs, () => {
      const i = this.streaming.indexOf(now + durationMs);
      if (i >= 0) this.streaming.splice(i, 1);
    });
    return { answer: { admittedAt: now, promptTokens: call.promptTokens, completionTokens }, durationMs };
  }

  private refusalFor(charge: number): Refusal | undefined {
    const { rpm, tpm, concurrency, tpd } = this.limits;
    if (concurrency && this.streaming.length >= concurrency) {
      // Nobody knows when a stream ends; Moonshot says 1 second.
      return new Refusal('concurrency', `${PREFIX} max concurrency: ${concurrency}, please try again after 1 seconds`);
    }
    if (this.minuteRequests >= rpm) {
      // Room appears when the (n - rpm + 1)th oldest request leaves the window.
      const freeing = this.charges[this.minuteFrom + this.minuteRequests - rpm];
      const seconds = Math.max(1, Math.ceil((freeing.at + this.rules.windowMs - this.clock.now()) / 1000));
      return new Refusal('rpm', `${PREFIX} max RPM: ${rpm}, please try again after ${seconds} seconds`);
    }
    if (this.minuteTokens + charge > tpm) {
      return new Refusal('tpm', `${PREFIX} TPM rate limit, current:${this.minuteTokens + charge}, limit:${tpm}`);
    }
    if (tpd && this.dayTokens + charge > tpd) {
      return new Refusal('tpd', `${PREFIX} TPD rate limit, current: ${this.dayTokens + charge}, limit: ${tpd}`);
    }
    return undefined;
  }

  private record(client: string, tokens: number, admitted: boolean): void {
    this.charges.push({ at: this.clock.now(), client, tokens, admitted });
    this.minuteRequests++;
    this.minuteTokens += tokens;
    this.dayTokens += tokens;
  }

  /** Lets charges older than a window leave it (a charge at t counts while now < t + window). */
  private slide(): void {
    const now = this.clock.now();
    while (this.minuteFrom < this.charges.length && this.charges[this.minuteFrom].at <= now - this.rules.windowMs) {
      this.minuteRequests--;
      this.minuteTokens -= this.charges[this.minuteFrom++].tokens;
    }
    while (this.dayFrom < this.charges.length && this.charges[this.dayFrom].at <= now - this.rules.dayMs) {
      this.dayTokens -= this.charges[this.dayFrom++].tokens;
    }
  }

  /** When `cost` more fits under `capacity` in a window of `span`, judged at `from` on the charges made so far. */
  private roomAt(first: number, span: number, from: number, size: (c: Charge) => number, capacity: number, cost: number): number {
    let i = first;
    while (i < this.charges.length && this.charges[i].at <= from - span) i++;
    let excess = cost - capacity;
    for (let j = i; j < this.charges.length; j++) excess += size(this.charges[j]);
    if (excess <= 0) return from;
    for (let j = i; j < this.charges.length; j++) {
      excess -= size(this.charges[j]);
      if (excess <= 0) return this.charges[j].at + span;
    }
    return Infinity;
  }
}
