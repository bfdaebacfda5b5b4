import * as assert from 'node:assert/strict';
import { SendRejected } from '../../src/core/sendQueue';
import { KimiError } from '../../src/kimi';
import { describeFailure } from '../../src/ui/failure';
import { kimiError } from '../support/failures';

const context = { model: 'kimi-k9', baseUrl: 'https://api.moonshot.ai/v1', attempts: 1 };

describe('describeFailure', () => {
  it('offers to set a key when the key is missing or refused', () => {
    const f = describeFailure(kimiError('unauthorized', { status: 401, message: 'Moonshot refused the API key (401).' }), context);
    assert.equal(f.severity, 'error');
    assert.deepEqual(f.actions, ['Set API Key']);
    assert.match(f.message, /refused the API key/);
  });

  it("names the unknown model and the setting, and offers the server's list", () => {
    const f = describeFailure(kimiError('notFound', { status: 404, serverMessage: 'Not found the model kimi-k9' }), context);
    assert.deepEqual(f.actions, ['Pick a Model']);
    assert.match(f.message, /"kimi-k9" \(kimiBudget\.model\)/);
  });

  it('says the quota is exhausted and that it was not retried', () => {
    const f = describeFailure(kimiError('quotaExhausted', { status: 429, serverMessage: 'Your account is suspended' }), context);
    assert.match(
      f.message,
      /balance or its plan's quota is spent.*Top up.*not retried, and nothing waiting was sent.*Your account is suspended/,
    );
  });

  it('counts the attempts of a send the server kept refusing, and points at the limits', () => {
    const f = describeFailure(kimiError('rateLimited', { status: 429, serverMessage: 'max RPM: 3' }), { ...context, attempts: 5 });
    assert.match(f.message, /still refused for rate after 5 attempts.*max RPM: 3.*kimiBudget\.limits/);
    assert.deepEqual(f.actions, ['Open Settings']);
  });

  it('tells a dropped stream (answer kept) from an unreachable server (check the base URL)', () => {
    assert.match(
      describeFailure(kimiError('network', { message: 'reset', streamed: true }), context).message,
      /part of the answer arrived; what arrived is kept/,
    );
    const unreachable = describeFailure(
      kimiError('network', {
        message: 'Could not connect to Moonshot at api.moonshot.ai: ECONNREFUSED. Check the network and the base URL.',
      }),
      context,
    );
    assert.equal(
      unreachable.message,
      'Kimi: Could not connect to Moonshot at api.moonshot.ai: ECONNREFUSED. Check the network and the base URL. (kimiBudget.baseUrl is https://api.moonshot.ai/v1.)',
    );
  });

  it('names the sampling setting to change when the server refuses its value', () => {
    const f = describeFailure(
      kimiError('badRequest', { status: 400, serverMessage: 'invalid temperature: only 1 is allowed for this model' }),
      context,
    );
    assert.match(f.message, /Change or unset kimiBudget\.temperature/);
    assert.deepEqual(f.actions, ['Open Settings']);
    const other = describeFailure(kimiError('badRequest', { status: 400, serverMessage: 'content_filter' }), context);
    assert.doesNotMatch(other.message, /kimiBudget/);
  });

  it('words queue refusals, cancellations as information', () => {
    const impossible = new SendRejected({
      kind: 'impossible',
      limit: 'tokensPerMinute',
      tokens: 5_200,
      capacity: 5_000,
      promptTokens: 4_800,
      maxTokens: 400,
      underNewLimits: false,
    });
    assert.deepEqual(describeFailure(impossible, context), {
      severity: 'error',
      message: 'Kimi: This prompt can never be sent: it needs 5200 tokens but kimiBudget.limits.tokensPerMinute is 5000 (200 over).',
      actions: ['Open Settings'],
    });
    assert.equal(describeFailure(new SendRejected({ kind: 'cancelled', when: 'waiting' }), context).severity, 'info');
    assert.equal(describeFailure(kimiError('cancelled'), context).severity, 'info');
  });

  it('an answer that went wrong in itself (no HTTP status) is told in the client\'s words, not as "Moonshot failed"', () => {
    const error = new KimiError({
      kind: 'server',
      message: 'Moonshot sent an answer larger than its max_tokens allow (100 tokens).',
      streamed: true,
    });
    const told = describeFailure(error, context);
    assert.equal(
      told.message,
      'Kimi: Moonshot sent an answer larger than its max_tokens allow (100 tokens). What arrived is kept in the answer editor.',
    );
  });
});
