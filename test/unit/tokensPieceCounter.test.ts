import * as assert from 'node:assert/strict';
import { chunks } from '../../src/tokens/pieceCounter';

describe('chunks of an over-long piece', () => {
  const utf8 = (text: string) => Buffer.byteLength(text);

  for (const [name, piece] of [
    ['ASCII', 'a'.repeat(1_000)],
    ['CJK', '漢'.repeat(500)],
    ['astral', '😀'.repeat(300)],
    ['mixed', 'ab漢😀é'.repeat(200)],
  ] as const) {
    it(`cover ${name} text in order, at most 128 UTF-8 bytes each, never splitting a surrogate pair`, () => {
      const parts = [...chunks(piece)];
      assert.equal(parts.join(''), piece);
      for (const part of parts) {
        assert.ok(part.length > 0 && utf8(part) <= 128, `${utf8(part)} bytes`);
        assert.ok(!/[\ud800-\udbff]$/.test(part) && !/^[\udc00-\udfff]/.test(part), 'split surrogate pair');
      }
      assert.ok(
        parts.slice(0, -1).every((part) => utf8(part) > 124),
        'chunks are filled',
      );
    });
  }
});
