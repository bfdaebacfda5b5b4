import * as assert from 'node:assert/strict';
import {
  Conversation,
  dropOldest,
  Exchange,
  fitContext,
  requestMessages,
  SUMMARY_PREFIX,
  summaryRequest,
} from '../../src/core/conversation';
import { Calibration, FRAMING_TOKENS_PER_MESSAGE } from '../../src/tokens/calibration';
import { estimateRequest } from '../../src/tokens/requestEstimate';

const exchange = (prompt: string, answer: string): Exchange => ({ prompt, answer, reasoning: '', at: 0, model: 'kimi-k2.6' });
const conversation = (systemPrompt: string, ...exchanges: Exchange[]): Conversation => ({
  id: 'c1',
  title: 't',
  systemPrompt,
  exchanges,
  firstSent: 0,
  createdAt: 0,
  updatedAt: 0,
});
/** A stand-in counter: one token per word. */
const words = async (text: string) => ({ tokens: text.split(/\s+/).filter(Boolean).length, exact: true });

describe('conversation requests', () => {
  it('carry the system prompt, every earlier turn in order, then the new prompt', () => {
    const c = conversation('Be brief.', exchange('What is TPM?', 'Tokens per minute.'), exchange('And RPM?', 'Requests per minute.'));
    assert.deepEqual(requestMessages(c, 'And TPD?'), [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is TPM?' },
      { role: 'assistant', content: 'Tokens per minute.' },
      { role: 'user', content: 'And RPM?' },
      { role: 'assistant', content: 'Requests per minute.' },
      { role: 'user', content: 'And TPD?' },
    ]);
    assert.deepEqual(
      requestMessages(conversation(''), 'Hi'),
      [{ role: 'user', content: 'Hi' }],
      'no system message when the setting is empty',
    );
  });

  it('leave out dropped turns, and carry a summary in their place', () => {
    const c = conversation('', exchange('one', 'a'), exchange('two', 'b'), exchange('three', 'c'));
    dropOldest(c, 2, 'They counted to two.');
    assert.deepEqual(requestMessages(c, 'four?'), [
      { role: 'system', content: `${SUMMARY_PREFIX}They counted to two.` },
      { role: 'user', content: 'three' },
      { role: 'assistant', content: 'c' },
      { role: 'user', content: 'four?' },
    ]);
    assert.equal(c.exchanges.length, 3, 'history keeps every exchange');
  });

  it('are estimated per message with the framing, scaled by the calibration', async () => {
    const calibration = new Calibration();
    const messages = requestMessages(conversation('Be brief.', exchange('What is TPM?', 'Tokens per minute.')), 'And RPM?');
    const raw = await estimateRequest(words, calibration, 'kimi-k2.6', messages);
    const content = 2 + 3 + 3 + 2;
    assert.equal(raw.contentTokens, content);
    assert.equal(raw.tokens, content + 4 * FRAMING_TOKENS_PER_MESSAGE);
    assert.equal(raw.calibrated, false);
    calibration.record('kimi-k2.6', content, 4, 2 * (content + 4 * FRAMING_TOKENS_PER_MESSAGE));
    const calibrated = await estimateRequest(words, calibration, 'kimi-k2.6', messages);
    assert.equal(calibrated.tokens, 2 * raw.tokens);
    assert.deepEqual(
      calibrated.perMessage,
      raw.perMessage.map((t) => 2 * t),
    );
  });

  it('fit the context window, or say how many oldest exchanges to let go and what that frees', () => {
    // system 10, two exchanges (100+200, 300+400), new prompt 50, max_tokens 100: 1,160 in all.
    const tokens = [10, 100, 200, 300, 400, 50];
    assert.deepEqual(fitContext(tokens, 1, 100, 2_000), { total: 1_160, fits: true });
    assert.deepEqual(fitContext(tokens, 1, 100, undefined), { total: 1_160, fits: true });
    assert.deepEqual(fitContext(tokens, 1, 100, 1_000), { total: 1_160, fits: false, dropOldest: { exchanges: 1, freesTokens: 300 } });
    assert.deepEqual(fitContext(tokens, 1, 100, 500), { total: 1_160, fits: false, dropOldest: { exchanges: 2, freesTokens: 1_000 } });
    assert.deepEqual(fitContext(tokens, 1, 100, 150), { total: 1_160, fits: false }, 'the new prompt alone does not fit');
  });

  it('ask for a summary of exactly the turns to let go, building on an earlier summary', () => {
    const c = conversation('', exchange('one', 'a'), exchange('two', 'b'), exchange('three', 'c'));
    dropOldest(c, 1, 'They said one.');
    const request = summaryRequest(c, 1);
    assert.equal(request.length, 2);
    assert.equal(request[0].role, 'system');
    assert.match(request[1].content, /^Summary of the earlier part[\s\S]*They said one\.[\s\S]*User: two\n\nAssistant: b$/);
    assert.doesNotMatch(request[1].content, /three/);
  });
});
