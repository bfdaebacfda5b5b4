/** The account's limits as the user configured them (Moonshot's tier table gives the values). */
export interface Limits {
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
  /** Requests in flight at once; 0 means no limit. */
  readonly concurrency: number;
  /** 0 means no limit. */
  readonly tokensPerDay: number;
}

export const DEFAULT_LIMITS: Limits = {
  requestsPerMinute: 120,
  tokensPerMinute: 150_000,
  concurrency: 0,
  tokensPerDay: 0,
};

export type LimitName = 'requestsPerMinute' | 'tokensPerMinute' | 'concurrency' | 'tokensPerDay';

/**
 * Moonshot's published tiers (the limits page of its platform documentation; a tier follows the
 * account's cumulative top-up: $1, $10, $20, $100, $1,000, $3,000 — on the China platform ¥0, 50,
 * 100, 500, 5,000, 20,000). The server's refusals can state other numbers: those win (`LearnedLimit`).
 */
export const TIERS = {
  tier0: { concurrency: 1, requestsPerMinute: 3, tokensPerMinute: 500_000, tokensPerDay: 1_500_000 },
  tier1: { concurrency: 50, requestsPerMinute: 200, tokensPerMinute: 2_000_000, tokensPerDay: 0 },
  tier2: { concurrency: 100, requestsPerMinute: 500, tokensPerMinute: 3_000_000, tokensPerDay: 0 },
  tier3: { concurrency: 200, requestsPerMinute: 5_000, tokensPerMinute: 3_000_000, tokensPerDay: 0 },
  tier4: { concurrency: 400, requestsPerMinute: 5_000, tokensPerMinute: 4_000_000, tokensPerDay: 0 },
  tier5: { concurrency: 1_000, requestsPerMinute: 10_000, tokensPerMinute: 5_000_000, tokensPerDay: 0 },
} as const satisfies Record<string, Limits>;

export type TierName = keyof typeof TIERS;
/** A tier, or "learn": the user does not know it, and the limits come from the defaults and the server's refusals. */
export type TierChoice = TierName | 'learn';
export const TIER_CHOICES = [...Object.keys(TIERS), 'learn'] as readonly TierChoice[];

/** Every limit, in the order the settings list them. */
export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as readonly LimitName[];

/** A limit the server stated in a refusal ("…max RPM: 3…"): the account's real limit, whatever the settings say. */
export interface LearnedLimit {
  readonly limit: LimitName;
  readonly value: number;
  /** When it was learned (clock milliseconds). */
  readonly at: number;
  /** The server's words it was read from. */
  readonly evidence: string;
  /** The organisation's limit, or a project's own lower cap; absent when the words did not say. */
  readonly scope?: 'organization' | 'project';
  /** Not stated by the server: what it had accepted in the last minute when it refused, naming no limit. */
  readonly guessed?: boolean;
}

/**
 * How long a learned limit holds. A tier rises with a top-up and Moonshot lowers limits for a while
 * when it is busy, so a limit learned once must not hold the account down for ever: after this long
 * it is dropped, and learned again from the next refusal if it still holds.
 */
export const LEARNED_FOR_MS = 6 * 3_600_000;

/** The limits with each learned one applied where it is smaller (a learned limit replaces "no limit", 0). */
export function withLearned(limits: Limits, learned: readonly LearnedLimit[]): Limits {
  const result: Record<LimitName, number> = { ...limits };
  for (const { limit, value } of learned) result[limit] = result[limit] > 0 ? Math.min(result[limit], value) : value;
  return result;
}

/** Whether a value read from elsewhere (a peer, a file) is a learned limit. */
export function isLearnedLimit(value: unknown): value is LearnedLimit {
  const l = value as LearnedLimit;
  return (
    typeof l === 'object' &&
    l !== null &&
    (LIMIT_NAMES as readonly unknown[]).includes(l.limit) &&
    Number.isSafeInteger(l.value) &&
    l.value >= 1 &&
    Number.isFinite(l.at) &&
    typeof l.evidence === 'string'
  );
}
