import type { AccountLimits } from './moonshotModel';
import { exponential, logUniform, Random, seeded } from './random';

export interface Prompt {
  readonly id: number;
  /** When the user sends it (ms from the start of the run). */
  readonly arrivalAt: number;
  /** Its true size; every client is given this count (calibration is a separate question). */
  readonly promptTokens: number;
  /** How long the model's answer turns out to be. */
  readonly outputTokens: number;
}

/** A second client on the same account that nobody told the engine about. */
export interface Teammate {
  readonly intervalMs: number;
  readonly promptTokens: number;
  readonly maxTokens: number;
  readonly outputTokens: number;
}

export interface Workload {
  readonly id: string;
  readonly title: string;
  readonly limits: AccountLimits;
  /** `max_tokens` of every prompt: charged to TPM at admission whatever the answer's length. */
  readonly maxTokens: number;
  readonly prompts: readonly Prompt[];
  readonly teammate?: Teammate;
  /** Steady workloads: the completion of the last prompt mostly tracks the last arrival. */
  readonly steady: boolean;
  readonly description: string;
}

/** Moonshot's Tier1, and the extension's default settings (the seed page's 120 RPM / 150,000 TPM). */
const TIER1: AccountLimits = { rpm: 200, tpm: 2_000_000, concurrency: 50, tpd: 0 };
const DEFAULTS: AccountLimits = { rpm: 120, tpm: 150_000, concurrency: 0, tpd: 0 };
const TIER0: AccountLimits = { rpm: 3, tpm: 500_000, concurrency: 1, tpd: 1_500_000 };

const PROMPT_MIN = 200;
const PROMPT_MAX = 20_000;
/** Mean of the log-uniform prompt size: (max - min) / ln(max / min). */
const PROMPT_MEAN = (PROMPT_MAX - PROMPT_MIN) / Math.log(PROMPT_MAX / PROMPT_MIN);
const STEADY_HOUR_MS = 3_600_000;

function burst(random: Random, count: number, outputMin: number, outputMax: number): Prompt[] {
  return Array.from({ length: count }, (_, id) => ({
    id,
    arrivalAt: 0,
    promptTokens: logUniform(random, PROMPT_MIN, PROMPT_MAX),
    outputTokens: logUniform(random, outputMin, outputMax),
  }));
}

/** Poisson arrivals for an hour at `load` times what the binding limit lets through. */
function steady(random: Random, limits: AccountLimits, maxTokens: number, load: number): { prompts: Prompt[]; perMinute: number } {
  const capacityPerMinute = Math.min(limits.rpm, limits.tpm / (PROMPT_MEAN + maxTokens));
  const perMinute = load * capacityPerMinute;
  const prompts: Prompt[] = [];
  for (let t = exponential(random, 60_000 / perMinute); t < STEADY_HOUR_MS; t += exponential(random, 60_000 / perMinute)) {
    prompts.push({
      id: prompts.length,
      arrivalAt: Math.round(t),
      promptTokens: logUniform(random, PROMPT_MIN, PROMPT_MAX),
      outputTokens: logUniform(random, 100, 2_000),
    });
  }
  return { prompts, perMinute };
}

/** Uses a third of the requests and a third of the tokens per minute, one request at a time, evenly spaced. */
function thirdOf(limits: AccountLimits): Teammate {
  const charge = Math.floor(limits.tpm / limits.rpm);
  const maxTokens = Math.min(1_024, Math.floor(charge / 2));
  return { intervalMs: 60_000 / (limits.rpm / 3), promptTokens: charge - maxTokens, maxTokens, outputTokens: Math.floor(maxTokens / 2) };
}

function describeLimits(l: AccountLimits): string {
  const parts = [
    `${l.rpm} RPM`,
    `${l.tpm.toLocaleString('en-US')} TPM`,
    l.concurrency ? `concurrency ${l.concurrency}` : 'no concurrency limit',
  ];
  if (l.tpd) parts.push(`${l.tpd.toLocaleString('en-US')} TPD`);
  return parts.join(', ');
}

export function workloads(): Workload[] {
  const rpmBurst = burst(seeded(11), 500, 100, 1_000);
  const tpmBurst = burst(seeded(12), 500, 100, 4_000);
  const steady80 = steady(seeded(13), DEFAULTS, 2_048, 0.8);
  const steady130 = steady(seeded(14), DEFAULTS, 2_048, 1.3);
  const tier0 = burst(seeded(15), 30, 300, 2_000);
  const list: Workload[] = [
    {
      id: 'burst-rpm',
      title: 'Burst of 500, RPM-bound (Tier1)',
      limits: TIER1,
      maxTokens: 1_024,
      prompts: rpmBurst,
      steady: false,
      description: `500 prompts at once, 200–20,000 tokens (log-uniform), max_tokens 1,024; ${describeLimits(TIER1)}`,
    },
    {
      id: 'burst-tpm',
      title: 'Burst of 500, TPM-bound (default settings)',
      limits: DEFAULTS,
      maxTokens: 8_192,
      prompts: tpmBurst,
      steady: false,
      description: `500 prompts at once, 200–20,000 tokens, max_tokens 8,192 (the extension's default); ${describeLimits(DEFAULTS)}`,
    },
    {
      id: 'steady-80',
      title: 'Steady arrivals at 80% for an hour',
      limits: DEFAULTS,
      maxTokens: 2_048,
      prompts: steady80.prompts,
      steady: true,
      description: `Poisson arrivals for 60 min at ${steady80.perMinute.toFixed(1)}/min (80% of what TPM lets through), 200–20,000 tokens, max_tokens 2,048; ${describeLimits(DEFAULTS)}`,
    },
    {
      id: 'steady-130',
      title: 'Steady arrivals at 130% for an hour',
      limits: DEFAULTS,
      maxTokens: 2_048,
      prompts: steady130.prompts,
      steady: true,
      description: `Poisson arrivals for 60 min at ${steady130.perMinute.toFixed(1)}/min (130%: a backlog builds), 200–20,000 tokens, max_tokens 2,048; ${describeLimits(DEFAULTS)}`,
    },
    {
      id: 'tier0',
      title: 'Tier0: concurrency 1, 3 RPM, slow answers',
      limits: TIER0,
      maxTokens: 4_096,
      prompts: tier0,
      steady: false,
      description: `30 prompts at once, 200–20,000 tokens, max_tokens 4,096, answers of 300–2,000 tokens (7–41 s each); ${describeLimits(TIER0)}`,
    },
  ];
  const hidden = (base: Workload): Workload => {
    const teammate = thirdOf(base.limits);
    const charge = (teammate.promptTokens + teammate.maxTokens).toLocaleString('en-US');
    return {
      ...base,
      id: `${base.id}+teammate`,
      title: `${base.title} + hidden teammate`,
      teammate,
      description: `${base.description}; plus a second client on the account, unknown to the client under test, sending one request every ${(teammate.intervalMs / 1000).toFixed(2)} s of ${charge} tokens (a third of RPM and of TPM), never retried`,
    };
  };
  list.push(hidden(list[0]), hidden(list[1]));
  return list;
}
