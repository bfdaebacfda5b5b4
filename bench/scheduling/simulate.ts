import type { Client } from './clients/client';
import { Charge, LimitHit, MoonshotModel, ServerRules } from './moonshotModel';
import { Random, seeded, uniform } from './random';
import { SimClock } from './simClock';
import { useVirtualTimers } from './virtualTimers';
import type { Workload } from './workloads';

/** Network and model speed of the simulated server (see the doc for why these values). */
export const NETWORK = { minMs: 30, maxMs: 90 };
export const ANSWER = { firstTokenMs: 1_000, tokensPerSecond: 50 };

export function serverRules(random: Random, chargeRefused: boolean): ServerRules {
  return {
    windowMs: 60_000,
    dayMs: 86_400_000,
    chargeRefused,
    nominalLatencyMs: (NETWORK.minMs + NETWORK.maxMs) / 2,
    latencyMs: () => uniform(random, NETWORK.minMs, NETWORK.maxMs),
    answerMs: (outputTokens) => ANSWER.firstTokenMs + (outputTokens / ANSWER.tokensPerSecond) * 1000,
  };
}

export interface RunResult {
  readonly workload: Workload;
  readonly client: string;
  /** When the last prompt's answer had fully arrived (ms of simulated time), or when the run was stopped. */
  readonly completionMs: number;
  readonly finished: number;
  readonly stoppedAtHorizon: boolean;
  readonly refusals: number;
  readonly refusalsBy: Record<LimitHit, number>;
  readonly burntRequests: number;
  readonly burntTokens: number;
  /** From a prompt's arrival to its admission by the server (retries included); lower bounds when stopped. */
  readonly waitP50Ms: number;
  readonly waitP95Ms: number;
  readonly teammateRequests: number;
  readonly teammateRefusals: number;
  /** Times the client gave a prompt up (the user sent it again). */
  readonly gaveUp: number;
  readonly charges: readonly Charge[];
  readonly events: number;
  readonly wallMs: number;
}

/** One client through one workload, on simulated time, against a fresh server model. */
export async function simulate(
  workload: Workload,
  client: Client,
  options: { chargeRefused: boolean; horizonMs: number; seed: number },
): Promise<RunResult> {
  const started = performance.now();
  const clock = new SimClock();
  const random = seeded(options.seed);
  const server = new MoonshotModel(clock, workload.limits, serverRules(random, options.chargeRefused));
  const admittedAt = new Map<number, number>();
  let completionMs = 0;
  let gaveUp = 0;
  const restoreTimers = client.usesGlobalTimers ? useVirtualTimers(clock) : undefined;
  try {
    const submit = client.start({
      clock,
      server,
      workload,
      random,
      finished: (prompt, answer) => {
        if (admittedAt.has(prompt.id)) return;
        admittedAt.set(prompt.id, answer.admittedAt);
        completionMs = Math.max(completionMs, clock.now());
      },
      gaveUp: () => gaveUp++,
    });
    for (const prompt of workload.prompts) clock.setTimer(prompt.arrivalAt, () => submit(prompt));
    if (workload.teammate && !client.runsTeammate) startTeammate(clock, server, workload.teammate);
    const end = await clock.run(() => admittedAt.size === workload.prompts.length, options.horizonMs);
    // A prompt still waiting when the run was stopped has waited at least until then.
    const waits = workload.prompts.map((p) => (admittedAt.get(p.id) ?? Math.max(p.arrivalAt, clock.now())) - p.arrivalAt);
    const tally = server.tally('user');
    const teammate = server.tally('teammate');
    return {
      workload,
      client: client.name,
      completionMs: end === 'done' ? completionMs : clock.now(),
      finished: admittedAt.size,
      stoppedAtHorizon: end !== 'done',
      refusals: Object.values(tally.refused).reduce((a, b) => a + b, 0),
      refusalsBy: tally.refused,
      burntRequests: tally.burntRequests,
      burntTokens: tally.burntTokens,
      waitP50Ms: quantile(waits, 0.5),
      waitP95Ms: quantile(waits, 0.95),
      teammateRequests: teammate.requests,
      teammateRefusals: Object.values(teammate.refused).reduce((a, b) => a + b, 0),
      gaveUp,
      charges: server.charges,
      events: clock.eventsRun,
      wallMs: performance.now() - started,
    };
  } finally {
    restoreTimers?.();
  }
}

/** Sends its request every interval whatever happens; a refused one is not retried. */
function startTeammate(clock: SimClock, server: MoonshotModel, teammate: NonNullable<Workload['teammate']>): void {
  const call = {
    client: 'teammate',
    promptTokens: teammate.promptTokens,
    maxTokens: teammate.maxTokens,
    outputTokens: teammate.outputTokens,
  };
  const send = () => {
    server.chat(call).catch(() => undefined);
    clock.setTimer(teammate.intervalMs, send);
  };
  clock.setTimer(teammate.intervalMs / 2, send);
}

export function quantile(values: readonly number[], q: number): number {
  if (!values.length) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}
