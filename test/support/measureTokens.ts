// Measures TokenCounter against raw js-tiktoken on pathological and large inputs (not a test).
// Run after `npx tsc -p .`: node out/test/support/measureTokens.js
import * as fs from 'node:fs';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import { TokenCounter } from '../../src/tokens/tokenCounter';

const WORKER = path.join(__dirname, '../../src/tokens/worker.js');
const TYPESCRIPT_LIB = path.join(__dirname, '../../../node_modules/typescript/lib');

/** typescript.js with its lines trimmed and joined: one line of about a megabyte, like minified code. */
function minifiedLine(): string {
  const source = fs.readFileSync(path.join(TYPESCRIPT_LIB, 'typescript.js'), 'utf8');
  return source
    .split('\n')
    .map((line) => line.trim())
    .join('')
    .slice(0, 1 << 20);
}

/** The worst case left: one long piece whose chunks never repeat, so the memo cannot help. */
function randomLetters(length: number): string {
  let text = '';
  for (let i = 0; i < length; i++) text += String.fromCharCode(97 + Math.floor(Math.random() * 26));
  return text;
}

interface Case {
  name: string;
  text: string;
  /** Raw js-tiktoken is quadratic on a long piece: only run it where it finishes in seconds. */
  raw: boolean;
}

const cases: Case[] = [
  { name: '100,000 × "a"', text: 'a'.repeat(100_000), raw: false },
  { name: '20,000 × "漢"', text: '漢'.repeat(20_000), raw: false },
  { name: '100,000 random a–z', text: randomLetters(100_000), raw: false },
  { name: '1 MB minified line', text: minifiedLine(), raw: true },
  { name: 'lib.dom.d.ts', text: fs.readFileSync(path.join(TYPESCRIPT_LIB, 'lib.dom.d.ts'), 'utf8'), raw: true },
];

async function main(): Promise<void> {
  const counter = new TokenCounter({ workerPath: WORKER });
  const delay = monitorEventLoopDelay({ resolution: 5 });
  const ms = (from: number) => (performance.now() - from).toFixed(0).padStart(5) + ' ms';
  const maxDelay = () => (delay.max / 1e6).toFixed(1) + ' ms';

  delay.enable();
  let started = performance.now();
  await counter.count('hello');
  delay.disable();
  console.log(`first count (starts the worker, loads o200k): ${ms(started)}, max event-loop delay ${maxDelay()}`);

  const counts = new Map<string, number>();
  for (const { name, text } of cases) {
    for (const pass of ['cold', 'warm']) {
      delay.reset();
      delay.enable();
      started = performance.now();
      const count = await counter.count(text);
      const took = ms(started);
      delay.disable();
      if (pass === 'cold') counts.set(name, count.tokens);
      const mbPerS = (Buffer.byteLength(text) / 1e6 / ((performance.now() - started) / 1e3)).toFixed(1);
      console.log(
        `TokenCounter ${name.padEnd(20)} ${pass}: ${took} (${mbPerS} MB/s) ${count.tokens} tokens, exact ${count.exact}, max event-loop delay ${maxDelay()}`,
      );
    }
  }
  counter.dispose();

  started = performance.now();
  // The package's `exports` map serves this path; the tsconfig's module resolution cannot see it.
  const encoding = new Tiktoken(require('js-tiktoken/ranks/o200k_base') as TiktokenBPE);
  console.log(`raw js-tiktoken load on this thread: ${ms(started)}`);
  for (const { name, text } of cases.filter((c) => c.raw)) {
    started = performance.now();
    const tokens = encoding.encode(text, [], []).length;
    const took = ms(started);
    const mbPerS = (Buffer.byteLength(text) / 1e6 / ((performance.now() - started) / 1e3)).toFixed(1);
    console.log(
      `raw encode   ${name.padEnd(20)}      ${took} (${mbPerS} MB/s) ${tokens} tokens, equal to TokenCounter: ${tokens === counts.get(name)}`,
    );
  }
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
