import * as assert from 'node:assert/strict';
import { verdictFor } from '../../src/kimi/verdict';
import { kimiError, moonshotSays, rateLimitedError } from '../support/failures';

describe('verdictFor', () => {
  it("names the limit a rate refusal was for, from Moonshot's messages", () => {
    const rpm = moonshotSays.maxRpm(20, 1);
    assert.deepEqual(verdictFor(rateLimitedError(rpm, 1_000)), {
      action: 'pause',
      afterMs: 1_000,
      evidence: rpm,
      limit: 'requestsPerMinute',
      stated: 20,
      scope: 'organization',
    });
    assert.equal((verdictFor(rateLimitedError(moonshotSays.tpm(1410, 100))) as { limit?: string }).limit, 'tokensPerMinute');
    assert.equal((verdictFor(rateLimitedError(moonshotSays.maxConcurrency(1, 1), 1_000)) as { limit?: string }).limit, 'concurrency');
    assert.equal((verdictFor(rateLimitedError('slow down')) as { limit?: string }).limit, undefined);
  });

  it('fails what must not be retried, and anything after part of an answer arrived', () => {
    assert.deepEqual(verdictFor(kimiError('quotaExhausted')), { action: 'stop', evidence: 'a quotaExhausted failure' });
    assert.deepEqual(verdictFor(kimiError('rateLimited', { streamed: true })), { action: 'fail' });
    assert.deepEqual(verdictFor(new Error('not ours')), { action: 'fail' });
  });
});
