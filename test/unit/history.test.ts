import * as assert from 'node:assert/strict';
import { Exchange } from '../../src/core/conversation';
import { History } from '../../src/core/history';

const exchange = (at: number, answer = 'an answer'): Exchange => ({
  prompt: 'a prompt',
  answer,
  reasoning: '',
  at,
  model: 'kimi-k2.6',
  usage: { promptTokens: 10, completionTokens: 20 },
  costUsd: 0.001,
  finishReason: 'stop',
});

describe('History', () => {
  it('keeps the most recently used conversation first', () => {
    const history = new History();
    const a = history.start('a', 'A', '', 1);
    const b = history.start('b', 'B', '', 2);
    history.add(b, exchange(3));
    history.add(a, exchange(4));
    assert.deepEqual(
      history.list().map((c) => c.id),
      ['a', 'b'],
    );
    assert.equal(history.get('b')?.exchanges.length, 1);
  });

  it('round-trips through JSON, leaving out conversations that never got an answer', () => {
    const history = new History();
    const a = history.start('a', 'A', 'Be brief.', 1);
    history.add(a, exchange(2));
    history.start('empty', 'E', '', 3);
    const restored = History.restore(JSON.parse(JSON.stringify(history)));
    assert.deepEqual(
      restored.list().map((c) => c.id),
      ['a'],
    );
    assert.deepEqual(restored.get('a'), history.get('a'));
  });

  it('adopts a conversation begun before it was loaded, and forgets one that never got an answer', () => {
    const loaded = History.restore({ conversations: [] });
    const early = new History().start('early', 'E', '', 5);
    loaded.adopt(early);
    loaded.adopt(early);
    assert.deepEqual(
      loaded.list().map((c) => c.id),
      ['early'],
    );
    loaded.discard(early);
    assert.equal(loaded.list().length, 0);
    const answered = loaded.start('answered', 'A', '', 6);
    loaded.add(answered, exchange(7));
    loaded.discard(answered);
    assert.equal(loaded.list().length, 1, 'an answered conversation is never discarded');
  });

  it('drops what does not have the expected shape instead of failing', () => {
    const restored = History.restore({
      conversations: [
        { id: 1 },
        null,
        { id: 'ok', title: 'T', systemPrompt: '', exchanges: [{ prompt: 'p' }, exchange(1)], firstSent: 0, createdAt: 0, updatedAt: 0 },
      ],
    });
    assert.deepEqual(
      restored.list().map((c) => [c.id, c.exchanges.length]),
      [['ok', 1]],
    );
    assert.equal(History.restore('garbage').list().length, 0);
    assert.equal(History.restore(undefined).list().length, 0);
  });

  it('is bounded in count and in size, the oldest going first', () => {
    const byCount = new History({ maxConversations: 3, maxBytes: 1e9 });
    for (let i = 0; i < 5; i++) byCount.add(byCount.start(`c${i}`, 'T', '', i), exchange(i));
    assert.deepEqual(
      byCount.list().map((c) => c.id),
      ['c4', 'c3', 'c2'],
    );
    const bySize = new History({ maxConversations: 100, maxBytes: 25_000 });
    for (let i = 0; i < 5; i++) bySize.add(bySize.start(`c${i}`, 'T', '', i), exchange(i, 'x'.repeat(10_000)));
    assert.deepEqual(
      bySize.list().map((c) => c.id),
      ['c4', 'c3'],
    );
    const huge = new History({ maxConversations: 100, maxBytes: 100 });
    huge.add(huge.start('big', 'T', '', 0), exchange(0, 'x'.repeat(1_000)));
    assert.deepEqual(
      huge.list().map((c) => c.id),
      ['big'],
      'the current conversation is kept however large',
    );
  });
});
