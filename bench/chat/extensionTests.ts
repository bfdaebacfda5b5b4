// Runs inside the extension host of VS Code 1.106.3 (test/vscode/runTests.js with the 1.106 lane)
// against the packaged extension, and times the counts VS Code's chat asks the `kimi` model for:
// the first one, after the window was left alone for KIMI_BENCH_SETTLE_MS, and many small ones after.
import * as vscode from 'vscode';
import type { KimiBudgetApi } from '../../src/ui/api';

export const MARKER = 'KIMI_BENCH_CHAT_COUNT';
const EXTENSION_ID = 'kimi-budget.kimi-budget';
/** What the chat counts: a message of a conversation. */
const MESSAGE = 'Why does a client that sends as soon as the server allows still get refused when a teammate shares the account?';
const SMALL_COUNTS = 200;

export interface ChatCountFigures {
  /** Measured inside activate(), with the chat parts registered. */
  readonly activationMs: number;
  readonly tokenizerStartedAtActivation: boolean;
  readonly settledMs: number;
  readonly tokenizerStartedBeforeFirstCount: boolean;
  /** `model.countTokens` from the chat's side: through VS Code to the provider and back. */
  readonly firstCountMs: number;
  /** Each of the later small counts, in order. */
  readonly smallCountMs: number[];
  readonly tokens: number;
}

export async function run(): Promise<void> {
  const extension = vscode.extensions.getExtension<KimiBudgetApi>(EXTENSION_ID);
  if (!extension) throw new Error(`${EXTENSION_ID} is not installed`);
  const api = await extension.activate();
  const settledMs = Number(process.env.KIMI_BENCH_SETTLE_MS ?? 0);
  await new Promise((resolve) => setTimeout(resolve, settledMs));
  const [model] = await vscode.lm.selectChatModels({ vendor: 'kimi' });
  if (!model) throw new Error('no kimi model: is MOONSHOT_API_KEY set for the window?');
  const tokenizerStartedBeforeFirstCount = api.tokenizerStarted();

  let started = performance.now();
  const tokens = await model.countTokens(MESSAGE);
  const firstCountMs = performance.now() - started;
  const smallCountMs: number[] = [];
  for (let i = 0; i < SMALL_COUNTS; i++) {
    // Different texts, as a conversation grows: nothing is answered from a cache.
    const text = `${MESSAGE} (${i})`;
    started = performance.now();
    await model.countTokens(vscode.LanguageModelChatMessage.User(text));
    smallCountMs.push(performance.now() - started);
  }
  const figures: ChatCountFigures = {
    activationMs: api.activation.ms,
    tokenizerStartedAtActivation: api.activation.tokenizerStarted,
    settledMs,
    tokenizerStartedBeforeFirstCount,
    firstCountMs,
    smallCountMs,
    tokens,
  };
  console.log(`${MARKER} ${JSON.stringify(figures)}`);
}
