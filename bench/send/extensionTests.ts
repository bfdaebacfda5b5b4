// Runs inside the extension host of a real VS Code (test/vscode/runTests.js loads it as the
// extension-tests module) against the extension installed from its packaged .vsix: sends prompts
// from the command palette to the Moonshot-like server, started here, and logs where the time of
// each went as one JSON line that bench/send/measure.ts picks out of the log.
import * as vscode from 'vscode';
import type { KimiBudgetApi } from '../../src/ui/api';
import type { SendTimelineView } from '../../src/ui/sendTimeline';
import { FakeMoonshot } from '../../test/support/fakeMoonshot';

export const MARKER = 'KIMI_BENCH_SEND';
const EXTENSION_ID = 'kimi-budget.kimi-budget';
/** The server streams each chunk this long after the previous one: an answer takes about a third of a second. */
const CHUNK_DELAY_MS = 50;
const WARM_SENDS = 5;
/** The next send starts this long after an answer is in: a person reads it first (and VS Code finishes what the answer started). */
const READ_MS = 1_500;

export interface SendFigures {
  /** From the command to the whole answer in its visible editor. */
  readonly endToEndMs: number;
  /** The server's own time: from the request's arrival to the last byte of its answer. */
  readonly serverMs: number;
  /** What the extension and VS Code add: end to end minus the server's time. */
  readonly overheadMs: number;
  /** The extension's own marks (absent from builds that do not keep them). */
  readonly timeline?: SendTimelineView;
}

export interface SendRun {
  /** How long the first prompt stayed selected before it was sent. */
  readonly pauseMs: number;
  readonly tokenizerStartedBeforeFirstSend: boolean;
  readonly cold: SendFigures;
  readonly warm: SendFigures[];
}

export async function run(): Promise<void> {
  const extension = vscode.extensions.getExtension<KimiBudgetApi>(EXTENSION_ID);
  if (!extension) throw new Error(`${EXTENSION_ID} is not installed`);
  const api = await extension.activate();
  const fake = new FakeMoonshot({ chunkDelayMs: CHUNK_DELAY_MS, apiKey: process.env.MOONSHOT_API_KEY });
  await vscode.workspace.getConfiguration('kimiBudget').update('baseUrl', await fake.start(), vscode.ConfigurationTarget.Global);
  try {
    const pauseMs = Number(process.env.KIMI_BENCH_PAUSE_MS ?? 0);
    let tokenizerStartedBeforeFirstSend = false;
    const cold = await sendOnce(api, fake, 0, pauseMs, () => (tokenizerStartedBeforeFirstSend = api.tokenizerStarted()));
    const warm: SendFigures[] = [];
    for (let i = 1; i <= WARM_SENDS; i++) {
      await new Promise((resolve) => setTimeout(resolve, READ_MS));
      warm.push(await sendOnce(api, fake, i, 0));
    }
    const figures: SendRun = { pauseMs, tokenizerStartedBeforeFirstSend, cold, warm };
    console.log(`${MARKER} ${JSON.stringify(figures)}`);
  } finally {
    await fake.stop();
  }
}

/**
 * Selects a prompt in a new editor, sends it `pauseMs` later from the command palette, and waits
 * until its whole answer is visible.
 */
async function sendOnce(api: KimiBudgetApi, fake: FakeMoonshot, i: number, pauseMs: number, beforeSend?: () => void): Promise<SendFigures> {
  const prompt = `Prompt ${i}: in one sentence, why does a rate limiter charge max_tokens up front?`;
  const document = await vscode.workspace.openTextDocument({ content: prompt, language: 'plaintext' });
  const editor = await vscode.window.showTextDocument(document, vscode.ViewColumn.One);
  editor.selection = new vscode.Selection(0, 0, 0, prompt.length);
  if (pauseMs) await new Promise((resolve) => setTimeout(resolve, pauseMs));
  beforeSend?.();
  const started = performance.now();
  void vscode.commands.executeCommand('kimiBudget.sendPrompt');
  await until(() =>
    vscode.window.visibleTextEditors.some((e) => {
      const text = e.document.uri.scheme === 'kimi-answer' ? e.document.getText() : '';
      return text.includes(`> ${prompt}\n`) && text.includes('finished: ');
    }),
  );
  const endToEndMs = performance.now() - started;
  const received = fake.received.find((r) => r.messages.at(-1)?.content === prompt);
  if (!received?.finishedAt) throw new Error(`the server did not answer "${prompt}"`);
  const serverMs = received.finishedAt - received.at;
  const timeline =
    typeof api.sendTimelines === 'function' ? api.sendTimelines().find((t) => prompt.startsWith(t.label.replace(/…$/, ''))) : undefined;
  return { endToEndMs, serverMs, overheadMs: endToEndMs - serverMs, timeline };
}

/** Polls every 2 ms. */
async function until(probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!probe()) {
    if (performance.now() > end) throw new Error('timed out waiting for the answer to be shown in full');
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}
