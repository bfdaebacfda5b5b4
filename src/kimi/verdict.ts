import { Verdict } from '../core/sendQueue';
import { KimiError } from './kimiError';

/** What the send queue does about a failed attempt: server refusals for rate pause and retry first. */
export function verdictFor(error: unknown): Verdict {
  if (!(error instanceof KimiError) || error.streamed) return { action: 'fail' };
  switch (error.kind) {
    case 'rateLimited':
      return { action: 'pause', afterMs: error.retryAfterMs, evidence: error.serverMessage ?? error.message };
    case 'overloaded':
    case 'server':
      return { action: 'backoff', evidence: error.serverMessage ?? error.message };
    default:
      return { action: 'fail' };
  }
}
