import type { Goal } from '../report/goal';
import { fmt, Table } from '../report/table';
import { fromRoot } from '../paths';
import { figuresFromVsCode } from '../vscodeRun';
import type { ChatCountFigures } from './extensionTests';

const MARKER = 'KIMI_BENCH_CHAT_COUNT';
const VSIX = fromRoot('.vscode-test', 'kimi-budget.vsix');
/** "A window open a few seconds." */
const SETTLE_MS = 4_000;
const FIRST_COUNT_GOAL_MS = 250;
const SMALL_COUNT_GOAL_MS = 5;

export interface ChatCountResult {
  readonly tables: Table[];
  readonly goals: Goal[];
  readonly failure?: string;
}

/**
 * The chat's token counts in fresh windows of VS Code 1.106.3: the first count right after
 * activation (the tokenizer not loaded: today's first count, the baseline), and the first count in a
 * window left alone a few seconds (the tokenizer warmed while it was idle); then small counts.
 */
export async function measureChatCounts(log: (line: string) => void, vsix = VSIX): Promise<ChatCountResult> {
  const runs: ChatCountFigures[] = [];
  for (const settleMs of [0, SETTLE_MS]) {
    const outcome = await figuresFromVsCode<ChatCountFigures>({
      vsix,
      module: fromRoot('out', 'bench', 'chat', 'extensionTests.js'),
      marker: MARKER,
      lane: '1.106',
      env: { KIMI_BENCH_SETTLE_MS: String(settleMs), MOONSHOT_API_KEY: 'sk-bench-no-server' },
      log: (line) => line.includes(MARKER) && log(`  ${line.slice(line.indexOf(MARKER), line.indexOf(MARKER) + 160)}…`),
    });
    if (typeof outcome === 'string') {
      log(`  chat counts not measured: ${outcome}`);
      return { tables: [], goals: [], failure: outcome };
    }
    runs.push(outcome);
  }
  const [cold, warm] = runs;
  const small = warm.smallCountMs.slice().sort((a, b) => a - b);
  const at = (q: number) => small[Math.min(small.length - 1, Math.floor(q * small.length))];
  const table: Table = {
    title: "Token counts for VS Code's chat (model.countTokens of the kimi model, VS Code 1.106.3, packaged .vsix)",
    columns: ['what', 'measured'],
    rows: [
      [
        'activate() with the chat parts registered (measured inside it) / tokenizer started at activation',
        `${fmt.ms(cold.activationMs)}, ${fmt.ms(warm.activationMs)} / ${cold.tokenizerStartedAtActivation}, ${warm.tokenizerStartedAtActivation}`,
      ],
      ['first count right after activation (tokenizer not loaded yet: the first count as it was)', fmt.ms(cold.firstCountMs)],
      [
        `first count ${SETTLE_MS / 1000} s after activation (tokenizer warmed while the window was idle: ${warm.tokenizerStartedBeforeFirstCount})`,
        fmt.ms(warm.firstCountMs),
      ],
      ['ratio: first count after warm-up / first count right after activation', `${(warm.firstCountMs / cold.firstCountMs).toFixed(3)}×`],
      [
        `later small counts (${small.length} messages of ~25 tokens): median / p95 / max`,
        `${fmt.ms(at(0.5))} / ${fmt.ms(at(0.95))} / ${fmt.ms(small[small.length - 1])}`,
      ],
    ],
    note: 'Each column is a fresh code-server 4.106.3 (Node 22) window in headless Chromium. A count goes from the calling extension through VS Code to the provider (o200k in the worker thread, times the calibration) and back.',
  };
  const goals: Goal[] = [
    {
      goal: `Chat: first count in a window open a few seconds under ${FIRST_COUNT_GOAL_MS} ms`,
      met: warm.firstCountMs < FIRST_COUNT_GOAL_MS && warm.tokenizerStartedBeforeFirstCount,
      measured: `${fmt.ms(warm.firstCountMs)} after ${SETTLE_MS / 1000} s (right after activation: ${fmt.ms(cold.firstCountMs)})`,
    },
    {
      goal: `Chat: later small counts under ${SMALL_COUNT_GOAL_MS} ms`,
      met: at(0.95) < SMALL_COUNT_GOAL_MS,
      measured: `median ${fmt.ms(at(0.5))}, p95 ${fmt.ms(at(0.95))} of ${small.length}`,
    },
  ];
  return { tables: [table], goals };
}
