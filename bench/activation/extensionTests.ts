// Runs inside the extension host of a real VS Code (test/vscode/runTests.js loads it as the
// extension-tests module) against the extension installed from its packaged .vsix, and logs what
// it measured as one JSON line that bench/run.ts picks out of the log.
import * as vscode from 'vscode';
import type { KimiBudgetApi } from '../../src/ui/api';

export const MARKER = 'KIMI_BENCH_ACTIVATION';
const EXTENSION_ID = 'kimi-budget.kimi-budget';
/** A small selection: a paragraph someone might send. */
const PROMPT =
  'Explain, in two sentences, why a client that sends as soon as the server allows can still be refused when a teammate shares the account.\n';

export interface ActivationFigures {
  /** Measured inside activate(), by the extension itself. */
  readonly activationMs: number;
  readonly tokenizerStartedAtActivation: boolean;
  /** Whether VS Code had activated it (onStartupFinished) before this module ran. */
  readonly activeBeforeTests: boolean;
  readonly tokenizerStartedBeforeFirstCount: boolean;
  /** How long the window was left alone between activation and the first count. */
  readonly settledMs: number;
  /** "Kimi: Count Tokens in Selection" on a fresh window: worker start + o200k load + the count. */
  readonly firstCountMs: number;
  /** From the selection to the status bar item showing its count (the item waits 300 ms first). */
  readonly firstStatusBarMs: number;
  readonly statusBarDebounceMs: number;
  /** The same two, once the tokenizer is loaded. */
  readonly warmCountMs: number;
  readonly warmStatusBarMs: number;
}

export async function run(): Promise<void> {
  const extension = vscode.extensions.getExtension<KimiBudgetApi>(EXTENSION_ID);
  if (!extension) throw new Error(`${EXTENSION_ID} is not installed`);
  const activeBeforeTests = extension.isActive;
  const api = await extension.activate();
  const settledMs = Number(process.env.KIMI_BENCH_SETTLE_MS ?? 0);
  await new Promise((resolve) => setTimeout(resolve, settledMs));
  const tokenizerStartedBeforeFirstCount = api.tokenizerStarted();

  // Plain text: a markdown document would start VS Code's markdown extension and its language server at
  // the same moment, and time their start-up instead of this extension's.
  const document = await vscode.workspace.openTextDocument({ content: PROMPT.repeat(3), language: 'plaintext' });
  const editor = await vscode.window.showTextDocument(document);
  // The whole document is selected, so the item shows the same number whichever event it counted for.
  let started = performance.now();
  editor.selection = new vscode.Selection(0, 0, document.lineCount, 0);
  await vscode.commands.executeCommand('kimiBudget.countTokens');
  const firstCountMs = performance.now() - started;
  const firstLabel = await until(() => api.statusLabels().selection);
  const firstStatusBarMs = firstLabel.at - started;

  started = performance.now();
  editor.selection = new vscode.Selection(0, 0, 1, 0);
  const warmLabel = await until(() => {
    const label = api.statusLabels().selection;
    return label !== firstLabel.value ? label : undefined;
  });
  const warmStatusBarMs = warmLabel.at - started;
  started = performance.now();
  await vscode.commands.executeCommand('kimiBudget.countTokens');
  const warmCountMs = performance.now() - started;

  const figures: ActivationFigures = {
    activationMs: api.activation.ms,
    tokenizerStartedAtActivation: api.activation.tokenizerStarted,
    activeBeforeTests,
    tokenizerStartedBeforeFirstCount,
    settledMs,
    firstCountMs,
    firstStatusBarMs,
    statusBarDebounceMs: 300,
    warmCountMs,
    warmStatusBarMs,
  };
  console.log(`${MARKER} ${JSON.stringify(figures)}`);
}

/** Polls every 2 ms; resolves with the value and the moment it first appeared. */
async function until<T>(probe: () => T | undefined, timeoutMs = 30_000): Promise<{ value: T; at: number }> {
  const end = performance.now() + timeoutMs;
  for (;;) {
    const value = probe();
    if (value !== undefined) return { value, at: performance.now() };
    if (performance.now() > end) throw new Error('timed out waiting for the selection item to show a count');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
