import type { Tiktoken } from 'js-tiktoken/lite';
import type { TokenCount } from './protocol';

/**
 * js-tiktoken's BPE is quadratic in a piece's length: measured here, a piece costs about
 * 0.075 µs per byte per byte of its length (48 B: 4 µs/B, 256 B: 19 µs/B, 1,536 B: 117 µs/B).
 * Pieces up to this size are counted whole and exactly; ordinary text never comes close
 * (lib.dom.d.ts's longest piece is 79 characters).
 */
const MAX_EXACT_PIECE_BYTES = 256;
/** Longer pieces are counted in chunks of this size: ≤ 10 µs/B, and a chunk boundary costs at
 * most a token or so (measured: 0–2.5% on letter runs, 0% on CJK and repeated characters). */
const CHUNK_BYTES = 128;
/** Piece → count memo, cleared when full; code repeats its pieces (lib.dom.d.ts: 11k distinct in 396k). */
const MAX_CACHED_PIECES = 100_000;
/** Work done between two turns of the event loop, so that a cancel message is seen promptly. */
const SLICE_MS = 20;
/** The clock is read once per this many pieces: a read costs more than a memo hit. */
const PIECES_PER_CLOCK_CHECK = 512;

/** Counts as js-tiktoken does with specials treated as plain text: the reference every count matches. */
function countAsText(encoding: Tiktoken, text: string): number {
  return encoding.encode(text, [], []).length;
}

/**
 * Counts o200k tokens piece by piece: splits with the encoding's pre-tokenizer pattern (as
 * js-tiktoken's encode does), memoises each piece's count, and cuts over-long pieces into chunks
 * so that no input costs more than a bounded time per byte. Yields to the event loop every
 * SLICE_MS so that a long count can be aborted.
 */
export class PieceCounter {
  private readonly cache = new Map<string, number>();

  constructor(
    private readonly encoding: Tiktoken,
    private readonly pattern: string,
  ) {}

  async count(text: string, signal?: AbortSignal): Promise<TokenCount> {
    const pieces = new RegExp(this.pattern, 'gu');
    let sliceEnd = performance.now() + SLICE_MS;
    let tokens = 0;
    let exact = true;
    let sinceClockCheck = 0;
    for (let match = pieces.exec(text); match !== null; match = pieces.exec(text)) {
      const piece = match[0];
      const cached = this.cache.get(piece);
      if (cached !== undefined) {
        tokens += cached;
      } else if (piece.length * 3 <= MAX_EXACT_PIECE_BYTES || Buffer.byteLength(piece) <= MAX_EXACT_PIECE_BYTES) {
        tokens += this.countShort(piece);
      } else {
        exact = false;
        for (const chunk of chunks(piece)) {
          tokens += this.countShort(chunk);
          if (performance.now() >= sliceEnd) sliceEnd = await nextSlice(signal);
        }
      }
      if (++sinceClockCheck === PIECES_PER_CLOCK_CHECK) {
        sinceClockCheck = 0;
        if (performance.now() >= sliceEnd) sliceEnd = await nextSlice(signal);
      }
    }
    return { tokens, exact };
  }

  private countShort(text: string): number {
    let tokens = this.cache.get(text);
    if (tokens === undefined) {
      tokens = countAsText(this.encoding, text);
      if (this.cache.size >= MAX_CACHED_PIECES) this.cache.clear();
      this.cache.set(text, tokens);
    }
    return tokens;
  }
}

/** Cuts `piece` into runs of at most CHUNK_BYTES UTF-8 bytes, never inside a surrogate pair. */
export function* chunks(piece: string): Generator<string> {
  let start = 0;
  let bytes = 0;
  for (let i = 0; i < piece.length;) {
    const code = piece.charCodeAt(i);
    const pair = code >= 0xd800 && code <= 0xdbff && isLowSurrogate(piece.charCodeAt(i + 1));
    const width = code < 0x80 ? 1 : code < 0x800 ? 2 : pair ? 4 : 3;
    if (bytes + width > CHUNK_BYTES) {
      yield piece.slice(start, i);
      start = i;
      bytes = 0;
    }
    bytes += width;
    i += pair ? 2 : 1;
  }
  if (start < piece.length) yield piece.slice(start);
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}

/** Lets queued messages (a cancel) run, then throws if the count was aborted meanwhile. */
async function nextSlice(signal: AbortSignal | undefined): Promise<number> {
  await new Promise<void>((resolve) => setImmediate(resolve));
  signal?.throwIfAborted();
  return performance.now() + SLICE_MS;
}
