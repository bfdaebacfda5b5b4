/**
 * How long Moonshot asks a client to wait. A real 429 captured in 2026 carried no headers at all,
 * only "please try again after N seconds" in the message, so every source is optional.
 */

/** Anything with a case-insensitive `get`, like fetch's Headers. */
export interface HeaderSource {
  get(name: string): string | null;
}

const MAX_SENSIBLE_MS = 24 * 60 * 60 * 1000; // a "reset" further away than a day is not a wait hint

/**
 * The wait in ms: the later of what the headers say (Retry-After, retry-after-ms) and what the
 * message says ("…after N seconds"), since waiting less than either is refused again; else
 * x-ratelimit-reset.
 */
export function retryAfterMs(headers: HeaderSource | undefined, message: string | undefined, now: number): number | undefined {
  const header = parseRetryAfterHeader(headers?.get('retry-after'), now) ?? parseMillis(headers?.get('retry-after-ms'));
  const stated = parseRetryAfterMessage(message);
  if (header !== undefined || stated !== undefined) return Math.max(header ?? 0, stated ?? 0);
  return parseRateLimitReset(headers?.get('x-ratelimit-reset'), now);
}

/** `Retry-After` is either delta-seconds or an HTTP date (RFC 9110 §10.2.3). */
export function parseRetryAfterHeader(value: string | null | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return sensible(Number(text) * 1000);
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : sensible(Math.max(0, at - now));
}

/** Moonshot's messages end "…please try again after 1 seconds". */
export function parseRetryAfterMessage(message: string | undefined): number | undefined {
  const match = /after\s+(\d+(?:\.\d+)?)\s*(?:seconds?|secs?|s)\b/i.exec(message ?? '');
  return match ? sensible(Number(match[1]) * 1000) : undefined;
}

/** Seen as seconds-until-reset, an OpenAI-style duration ("1m30s", "250ms"), or an epoch time. */
export function parseRateLimitReset(value: string | null | undefined, now: number): number | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) {
    const n = Number(text);
    if (n > 1e12) return sensible(n - now); // epoch milliseconds
    if (n > 1e9) return sensible(n * 1000 - now); // epoch seconds
    return sensible(n * 1000);
  }
  const parts = /^(?:(\d+)h)?(?:(\d+)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+)ms)?$/.exec(text);
  if (!parts || text === '') return undefined;
  const [, h, m, s, ms] = parts;
  return sensible(Number(h ?? 0) * 3_600_000 + Number(m ?? 0) * 60_000 + Number(s ?? 0) * 1000 + Number(ms ?? 0));
}

function parseMillis(value: string | null | undefined): number | undefined {
  const text = value?.trim();
  return text && /^\d+(\.\d+)?$/.test(text) ? sensible(Number(text)) : undefined;
}

function sensible(ms: number): number | undefined {
  return Number.isFinite(ms) && ms >= 0 && ms <= MAX_SENSIBLE_MS ? Math.ceil(ms) : undefined;
}
