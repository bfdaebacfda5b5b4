import * as assert from 'node:assert/strict';
import { KimiError } from '../../src/kimi';
import { verdictFor } from '../../src/kimi/verdict';

const refusal = (serverMessage: string, retryAfterMs?: number) => new KimiError({ kind: 'rateLimited', status: 429, type: 'rate_limit_reached_error', message: 'x', serverMessage, retryAfterMs });

describe('verdictFor', () => {
  it('names the limit a rate refusal was for, from Moonshot\'s messages', () => {
    const org = 'Your account org-x<ak-y> request reached organization';
    assert.deepEqual(verdictFor(refusal(`${org} max RPM: 20, please try again after 1 seconds`, 1_000)), { action: 'pause', afterMs: 1_000, evidence: `${org} max RPM: 20, please try again after 1 seconds`, limit: 'requestsPerMinute' });
    assert.equal((verdictFor(refusal(`${org} TPM rate limit, current:1410, limit:100`)) as { limit?: string }).limit, 'tokensPerMinute');
    assert.equal((verdictFor(refusal(`${org} max concurrency: 1, please try again after 1 seconds`, 1_000)) as { limit?: string }).limit, 'concurrency');
    assert.equal((verdictFor(refusal('slow down')) as { limit?: string }).limit, undefined);
  });

  it('fails what must not be retried, and anything after part of an answer arrived', () => {
    assert.deepEqual(verdictFor(new KimiError({ kind: 'quotaExhausted', message: 'x' })), { action: 'fail' });
    assert.deepEqual(verdictFor(new KimiError({ kind: 'rateLimited', message: 'x', streamed: true })), { action: 'fail' });
    assert.deepEqual(verdictFor(new Error('not ours')), { action: 'fail' });
  });
});
