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

/** Every limit, in the order the settings list them. */
export const LIMIT_NAMES = Object.keys(DEFAULT_LIMITS) as readonly LimitName[];
