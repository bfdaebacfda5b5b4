import { Verdict } from '../core/sendQueue';
import { KimiError } from './kimiError';
import { readRefusal } from './refusal';

/** What the send queue does about a failed attempt: server refusals for rate pause and retry first. */
export function verdictFor(error: unknown): Verdict {
  if (!(error instanceof KimiError) || error.streamed) return { action: 'fail' };
  const evidence = error.serverMessage ?? error.message;
  switch (error.kind) {
    case 'rateLimited': {
      const { limit, stated, scope, current } = readRefusal(evidence);
      const said = { ...(stated !== undefined ? { stated } : {}), ...(scope ? { scope } : {}) };
      // A TPD refusal states no wait, and backing off for seconds would only be refused again.
      if (limit === 'tokensPerDay' && error.retryAfterMs === undefined) {
        const excess = current !== undefined && stated !== undefined && current > stated ? current - stated : undefined;
        return { action: 'waitForDay', ...(excess !== undefined ? { excessTokens: excess } : {}), evidence, ...said };
      }
      return { action: 'pause', afterMs: error.retryAfterMs, evidence, ...(limit ? { limit } : {}), ...said };
    }
    case 'overloaded':
    case 'server':
      return { action: 'backoff', afterMs: error.retryAfterMs, evidence };
    case 'quotaExhausted':
      // No send can succeed until the user acts: this one fails, and so does every send waiting.
      return { action: 'stop', evidence };
    default:
      return { action: 'fail' };
  }
}
