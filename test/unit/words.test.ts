// The one place that words the queue's structured refusals: each kind, with its numbers and the fix.
import * as assert from 'node:assert/strict';
import { Rejection } from '../../src/core/sendQueue';
import { describeRejection, heldBy, roughly } from '../../src/ui/words';

const cases: [Rejection, RegExp][] = [
  [
    {
      kind: 'impossible',
      limit: 'tokensPerDay',
      tokens: 6_000,
      capacity: 5_000,
      promptTokens: 5_000,
      maxTokens: 1_000,
      underNewLimits: true,
    },
    /^This prompt can no longer be sent under the new limits: it needs 6000 tokens but kimiBudget\.limits\.tokensPerDay is 5000 \(1000 over\)\.$/,
  ],
  [
    {
      kind: 'impossible',
      limit: 'contextWindow',
      tokens: 4_000,
      capacity: 3_500,
      promptTokens: 3_000,
      maxTokens: 1_000,
      underNewLimits: false,
    },
    /^This prompt can never be sent: it needs 3000 prompt tokens \+ 1000 max output tokens = 4000, above the model's context window of 3500 \(500 over\); shorten the prompt or lower kimiBudget\.maxOutputTokens\.$/,
  ],
  [
    { kind: 'queueFull', waiting: 20, maxLength: 20 },
    /^20 sends are already waiting, the most kimiBudget\.queue\.maxLength allows\. .*"Kimi: Show Send Queue", or raise the setting\.$/,
  ],
  [
    { kind: 'waitTooLong', waitMs: 121_500, maxWaitMs: 100_000 },
    /^This send would wait about 122 s for budget, longer than kimiBudget\.queue\.maxWaitSeconds \(100 s\)\./,
  ],
  [
    { kind: 'timedOut', waitedMs: 100_000, maxWaitMs: 100_000 },
    /^The send waited 100 s without going out, the most kimiBudget\.queue\.maxWaitSeconds allows/,
  ],
  [
    { kind: 'dayLimit', evidence: 'TPD rate limit, current: 2, limit: 1', roomInMs: 90_000_000, maxWaitMs: 10_000, tokensPerDaySet: false },
    /daily token limit \(TPD\) is reached: "TPD rate limit, current: 2, limit: 1"\. .*about 25 h, longer than kimiBudget\.queue\.maxWaitSeconds \(10 s\)\. Send it again later, and set kimiBudget\.limits\.tokensPerDay/,
  ],
  [
    { kind: 'accountStopped', evidence: 'Your account org-x <ak-y> is suspended due to insufficient balance' },
    /^Not sent: Moonshot refused a send before it for a reason waiting cannot cure: "Your account org-x <ak-y> is suspended due to insufficient balance"\. Top up, or check the plan, in Moonshot's console; then send it again\.$/,
  ],
  [
    { kind: 'accountStopped', evidence: 'suspended', resumesInMs: 42_000 },
    /^Not sent: Moonshot refused this account a moment ago .*"suspended"\. .* Sends go out again in 42 s, or at once when the key or the base URL changes\.$/,
  ],
  [{ kind: 'cancelled', when: 'waiting' }, /^The send was cancelled before it went out; no budget was spent\.$/],
  [{ kind: 'cancelled', when: 'beforeSending' }, /^The send was cancelled before it went out; no budget was spent\.$/],
  [{ kind: 'cancelled', when: 'answering' }, /^The send was cancelled while the answer was arriving; its budget stays spent\.$/],
  [{ kind: 'cancelled', when: 'stopped' }, /^The send was cancelled because the extension stopped\.$/],
];

describe('words', () => {
  for (const [rejection, words] of cases) {
    it(`words a ${rejection.kind} refusal${'when' in rejection ? ` (${rejection.when})` : ''} with its numbers and the fix`, () => {
      assert.match(describeRejection(rejection), words);
    });
  }

  it('a day limit with tokensPerDay set does not ask to set it', () => {
    const text = describeRejection({ kind: 'dayLimit', evidence: 'TPD', roomInMs: 3_600_000, maxWaitMs: 10_000, tokensPerDaySet: true });
    assert.match(text, /about 60 min/);
    assert.doesNotMatch(text, /set kimiBudget\.limits\.tokensPerDay/);
  });

  it('says waits roughly, and what holds the queue', () => {
    assert.deepEqual(
      [roughly(1), roughly(119_000), roughly(120_000), roughly(7_199_000), roughly(7_200_000)],
      ['1 s', '119 s', '2 min', '120 min', '2 h'],
    );
    assert.deepEqual(
      [heldBy('tokensPerMinute'), heldBy('concurrency'), heldBy('serverPause')],
      ['tokens per minute', 'concurrency (a running send must finish)', 'the server asked to wait'],
    );
  });
});
