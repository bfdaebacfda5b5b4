import { LimitName } from '../core/limits';
import { Verdict } from '../core/sendQueue';
import { KimiError, dailyLimitOf } from './kimiError';

/** What the send queue does about a failed attempt: server refusals for rate pause and retry first. */
export function verdictFor(error: unknown): Verdict {
  if (!(error instanceof KimiError) || error.streamed) return { action: 'fail' };
  const evidence = error.serverMessage ?? error.message;
  switch (error.kind) {
    case 'rateLimited': {
      // A TPD refusal states no wait, and backing off for seconds would only be refused again.
      const daily = error.retryAfterMs === undefined ? dailyLimitOf(error.serverMessage) : undefined;
      if (daily) return { action: 'waitForDay', excessTokens: daily.excessTokens, evidence };
      return { action: 'pause', afterMs: error.retryAfterMs, evidence, limit: refusedLimit(evidence) };
    }
    case 'overloaded':
    case 'server':
      return { action: 'backoff', afterMs: error.retryAfterMs, evidence };
    default:
      return { action: 'fail' };
  }
}

/** Which limit a rate refusal names ("max RPM: 20", "TPM rate limit", "max concurrency: 1"), if it says. */
function refusedLimit(message: string): LimitName | undefined {
  if (/\bRPM\b/.test(message)) return 'requestsPerMinute';
  if (/\bTPM\b/.test(message)) return 'tokensPerMinute';
  if (/concurrency/i.test(message)) return 'concurrency';
  return undefined;
}
