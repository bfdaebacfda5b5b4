import { monitorEventLoopDelay } from 'node:perf_hooks';
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { TokenCounter } from '../../src/tokens/tokenCounter';
import { fromRoot } from '../paths';

/** The extension's counter as src/extension.ts builds it: TokenCounter and its worker thread. */
export const WORKER_PATH = fromRoot('out', 'src', 'tokens', 'worker.js');

export interface Timed<T> {
  readonly value: T;
  readonly ms: number;
  /** Longest delay of this thread's event loop meanwhile (the extension host's, for TokenCounter). */
  readonly stallMs: number;
}

v8.setFlagsFromString('--expose-gc');
/** V8's gc(), reachable without a command-line flag (the flag applies to contexts made after it is set). */
const gc = vm.runInNewContext('gc') as () => void;

/**
 * Runs `work` while perf_hooks.monitorEventLoopDelay watches this thread's event loop. Garbage
 * left by earlier measurements is collected first, so that its collection is not charged to this one.
 */
export async function timed<T>(work: () => Promise<T>): Promise<Timed<T>> {
  gc();
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const started = performance.now();
  const value = await work();
  const ms = performance.now() - started;
  histogram.disable();
  return { value, ms, stallMs: histogram.max / 1e6 };
}

export interface ExtensionCount {
  readonly tokens: number;
  readonly exact: boolean;
  /** Starting the worker and loading o200k, with a one-word count. */
  readonly start: Timed<unknown>;
  /** Each pass over the text: the first with the worker's memo empty, then repeats. */
  readonly passes: Timed<unknown>[];
}

/** A fresh TokenCounter (empty memo), started with a one-word count, then `passes` counts of `text`. */
export async function countWithExtension(text: string, passes: number): Promise<ExtensionCount> {
  const counter = new TokenCounter({ workerPath: WORKER_PATH });
  try {
    const start = await timed(() => counter.count('warm up'));
    const runs: Timed<{ tokens: number; exact: boolean }>[] = [];
    for (let i = 0; i < passes; i++) runs.push(await timed(() => counter.count(text)));
    const last = runs[runs.length - 1].value;
    return { tokens: last.tokens, exact: last.exact, start, passes: runs };
  } finally {
    counter.dispose();
  }
}

/** The same watch over an idle event loop for `ms`: what the machine alone does to the thread. */
export function idleStall(ms: number): Promise<number> {
  return timed(() => new Promise((resolve) => setTimeout(resolve, ms))).then((t) => t.stallMs);
}
