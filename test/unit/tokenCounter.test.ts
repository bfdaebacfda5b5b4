import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import { TokenCounter } from '../../src/tokens/tokenCounter';

const WORKER = path.join(__dirname, '../../src/tokens/worker.js');
const TYPESCRIPT_LIB = path.join(__dirname, '../../../node_modules/typescript/lib');

/** The reference: raw js-tiktoken on o200k_base, special-token strings counted as plain text. */
let reference: Tiktoken;
const referenceCount = (text: string) => reference.encode(text, [], []).length;

/** Deterministic pseudo-random letters: one long piece whose chunks never repeat. */
function randomLetters(length: number, seed: number): string {
  let state = seed;
  let text = '';
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) % 2147483648;
    text += String.fromCharCode(97 + (state % 26));
  }
  return text;
}

const abortedWith = (name: string) => (error: unknown) => error instanceof Error && error.name === name;

describe('TokenCounter', function () {
  /** Shared by the tests that do not depend on a fresh worker: each start loads the ranks again. */
  let counter: TokenCounter;
  let fresh: TokenCounter;

  before(() => {
    // The package's `exports` map serves this path; the tsconfig's module resolution cannot see it.
    const o200k = require('js-tiktoken/ranks/o200k_base') as TiktokenBPE;
    reference = new Tiktoken(o200k);
    counter = new TokenCounter({ workerPath: WORKER });
  });
  after(() => counter.dispose());
  beforeEach(() => (fresh = new TokenCounter({ workerPath: WORKER })));
  afterEach(() => fresh.dispose());

  it('starts no worker before the first count, nor for empty text', async () => {
    assert.equal(fresh.started, false);
    assert.deepEqual(await fresh.count(''), { tokens: 0, exact: true });
    assert.equal(fresh.started, false);
    assert.deepEqual(await fresh.count('hi'), { tokens: referenceCount('hi'), exact: true });
    assert.equal(fresh.started, true);
  });

  describe('exact counts equal raw js-tiktoken', () => {
    const samples: Record<string, string> = {
      english: 'The quick brown fox jumps over the lazy dog. It\'s 9:41 — isn\'t it? "Quotes", (parens) & 1234567 numbers.',
      code: 'export function add(a: number, b: number): number {\n  return a + b; // sum\n}\n\n\tconst x = [1, 2, 3].map((n) => n ** 2);\r\n',
      cjk: '日本語のテキストと中文文本，还有한국어 문장。漢字かなカナ混じり文！',
      emoji: '👍🏽 family: 👨‍👩‍👧‍👦 flag: 🇯🇵 ✨🚀 lone surrogates: \ud800 \udc00 end',
      specials: "<|endoftext|> then <|endofprompt|> and Kimi's <|im_user|>user<|im_middle|>hi<|im_end|>",
      whitespace: '   \n\n\n\t\t  x  \r\n\r\n    ',
      binary: Array.from({ length: 2_000 }, (_, i) => String.fromCharCode((i * 7919) % 256)).join('') + '\u0000\ufffd\ufeff\u200b',
    };
    for (const [name, text] of Object.entries(samples)) {
      it(name, async () => {
        assert.deepEqual(await counter.count(text), { tokens: referenceCount(text), exact: true });
      });
    }

    it('counts special-token strings as plain text instead of throwing', async () => {
      assert.throws(() => reference.encode('<|endoftext|>'), /special token/); // js-tiktoken's default
      const count = await counter.count('<|endoftext|>');
      assert.equal(count.tokens, referenceCount('<|endoftext|>'));
      assert.ok(count.tokens > 1, 'not the single special token');
    });

    it("real TypeScript source, counted twice (the second time from the worker's piece memo)", async () => {
      const source = fs.readFileSync(path.join(TYPESCRIPT_LIB, 'typescript.js'), 'utf8').slice(0, 300_000);
      const expected = { tokens: referenceCount(source), exact: true };
      assert.deepEqual(await counter.count(source), expected);
      assert.deepEqual(await counter.count(source), expected);
    });

    it('answers concurrent counts each with its own result', async () => {
      const texts = Array.from({ length: 30 }, (_, i) => `request ${i}: ${'word '.repeat(i)}${i * 7919}`);
      const counts = await Promise.all(texts.map((text) => counter.count(text)));
      assert.deepEqual(
        counts,
        texts.map((text) => ({ tokens: referenceCount(text), exact: true })),
      );
    });
  });

  describe('bounded work on pathological pieces', () => {
    it('counts 100,000 × "a" quickly, as an estimate within 3%', async () => {
      // js-tiktoken merges runs of "a" into 8-letter tokens (n / 8 tokens); checked here at a size it can afford.
      assert.equal(referenceCount('a'.repeat(2_400)), 300);
      const small = await counter.count('a'.repeat(2_400));
      assert.equal(small.exact, false);
      assert.ok(Math.abs(small.tokens - 300) <= 9, `2,400 × a: ${small.tokens}`);

      const started = performance.now();
      const count = await counter.count('a'.repeat(100_000));
      const elapsed = performance.now() - started;
      assert.equal(count.exact, false);
      assert.ok(Math.abs(count.tokens - 12_500) <= 375, `100,000 × a: ${count.tokens}`);
      assert.ok(elapsed < 2_000, `took ${elapsed.toFixed(0)} ms`);
    });

    it('counts 20,000 × "漢" quickly, as an estimate within 3%', async () => {
      assert.equal(referenceCount('漢'.repeat(600)), 600); // one token a character
      const count = await counter.count('漢'.repeat(20_000));
      assert.equal(count.exact, false);
      assert.ok(Math.abs(count.tokens - 20_000) <= 600, `20,000 × 漢: ${count.tokens}`);
    });

    it('estimates a long run of random letters within 3%', async () => {
      const text = randomLetters(3_000, 7);
      const truth = referenceCount(text);
      const count = await counter.count(text);
      assert.equal(count.exact, false);
      assert.ok(Math.abs(count.tokens - truth) <= truth * 0.03, `${count.tokens} vs ${truth}`);
    });

    it('counts a text sent in several slices exactly as a whole, a surrogate pair split across slices included', async () => {
      const slice = 256 * 1024;
      const head = 'words and more words, '.repeat(Math.ceil(slice / 22)).slice(0, slice - 1);
      const text = `${head}😀${'then the rest of the text. '.repeat(25_000)}`;
      assert.equal(text.charCodeAt(slice - 1), 0xd83d, 'the emoji straddles the first slice boundary');
      assert.ok(text.length > 3 * slice);
      assert.deepEqual(await counter.count(text), { tokens: referenceCount(text), exact: true });
    });

    it('keeps the calling thread responsive while counting megabytes: its longest stall is a fraction of counting in-thread', async () => {
      const text = fs.readFileSync(path.join(TYPESCRIPT_LIB, 'lib.dom.d.ts'), 'utf8');
      const delay = monitorEventLoopDelay({ resolution: 5 });
      delay.enable();
      const count = await fresh.count(text); // includes starting the worker and loading the ranks
      delay.disable();
      assert.equal(count.exact, true);
      assert.ok(count.tokens > 400_000);
      const maxMs = delay.max / 1e6;
      // The baseline, measured now on this (possibly loaded) machine: the same count on this thread.
      const inThreadStart = performance.now();
      assert.equal(referenceCount(text), count.tokens);
      const inThreadMs = performance.now() - inThreadStart;
      assert.ok(
        maxMs < inThreadMs / 4,
        `event loop stalled ${maxMs.toFixed(0)} ms at most, not under a quarter of the ${inThreadMs.toFixed(0)} ms the same count blocks this thread`,
      );
    });
  });

  describe('abort', () => {
    it('rejects at once for an already aborted signal, without starting the worker', async () => {
      await assert.rejects(fresh.count('text', AbortSignal.abort()), abortedWith('AbortError'));
      assert.equal(fresh.started, false);
    });

    it('rejects an aborted count with AbortError; later counts still answer', async () => {
      const controller = new AbortController();
      const aborted = counter.count('some text to count', controller.signal);
      controller.abort();
      await assert.rejects(aborted, abortedWith('AbortError'));
      assert.deepEqual(await counter.count('still here'), { tokens: referenceCount('still here'), exact: true });
    });

    it('stops a long running count, so that the counts queued behind it are not held up', async () => {
      // A race against a second worker counting a text half as long: no clock, and load slows both alike.
      // Random letters defeat the workers' piece memo, so the cost of a count grows with its length.
      const elsewhere = new TokenCounter({ workerPath: WORKER });
      try {
        await Promise.all([counter.count('warm up'), elsewhere.count('warm up')]); // both have loaded their ranks
        const finished: string[] = [];
        const controller = new AbortController();
        const long = counter.count(randomLetters(60_000, 2), controller.signal);
        const behind = counter.count('queued behind').then((count) => (finished.push('queued behind'), count));
        const halfAsLong = elsewhere.count(randomLetters(30_000, 3)).then(() => finished.push('half as long elsewhere'));
        controller.abort();
        await assert.rejects(long, abortedWith('AbortError'));
        assert.deepEqual(await behind, { tokens: referenceCount('queued behind'), exact: true });
        await halfAsLong;
        assert.deepEqual(finished, ['queued behind', 'half as long elsewhere']);
      } finally {
        elsewhere.dispose();
      }
    });
  });

  describe('worker crash', () => {
    let dir: string;
    let crashingWorker: string;

    before(() => {
      // The real worker, plus a trap that kills the thread on a marker text.
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'kimi-budget-tokens-'));
      crashingWorker = path.join(dir, 'crashingWorker.js');
      fs.writeFileSync(
        crashingWorker,
        `const { parentPort } = require('worker_threads');
parentPort.on('message', (m) => {
  if (m.text === 'THROW') throw new Error('simulated crash');
  if (m.text === 'EXIT') process.exit(7);
});
require(${JSON.stringify(WORKER)});
`,
      );
    });
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    for (const [marker, cause] of [
      ['THROW', /crashed: simulated crash/],
      ['EXIT', /exited unexpectedly \(exit code 7\)/],
    ] as const) {
      it(`rejects the pending counts and starts afresh (${marker})`, async () => {
        const crashing = new TokenCounter({ workerPath: crashingWorker });
        try {
          assert.deepEqual(await crashing.count('before'), { tokens: referenceCount('before'), exact: true });
          const killer = crashing.count(marker);
          const queued = crashing.count('queued behind the crash');
          await assert.rejects(killer, cause);
          await assert.rejects(queued, /tokenizer worker/);
          assert.deepEqual(await crashing.count('after'), { tokens: referenceCount('after'), exact: true });
        } finally {
          crashing.dispose();
        }
      });
    }

    it('rejects, rather than throws, when the worker cannot be loaded', async () => {
      const broken = new TokenCounter({ workerPath: path.join(dir, 'missing.js') });
      await assert.rejects(broken.count('text'), /tokenizer worker crashed: Cannot find module/);
      broken.dispose();
    });
  });

  describe('dispose', () => {
    it('rejects pending counts and any later one', async () => {
      const pending = fresh.count('x'.repeat(10_000));
      fresh.dispose();
      await assert.rejects(pending, /disposed/);
      await assert.rejects(fresh.count('after'), /disposed/);
    });
  });
});
