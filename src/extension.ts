// Composition root: builds the pieces and wires their events; the logic lives in them.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { Budget } from './core/budget';
import { systemClock } from './core/clock';
import { SendQueue } from './core/sendQueue';
import { ChatResult } from './kimi';
import { verdictFor } from './kimi/verdict';
import { Calibration, CalibrationState } from './tokens/calibration';
import { TokenCounter } from './tokens/tokenCounter';
import { AnswerDocuments } from './ui/answerDocuments';
import { ApiKey } from './ui/apiKey';
import { BudgetStatusItem } from './ui/budgetStatusItem';
import { summarize } from './ui/budgetSummary';
import { PromptSender, SessionCost } from './ui/promptSender';
import { showQueue } from './ui/queuePicker';
import { SelectionCounter } from './ui/selectionCounter';
import { SelectionStatusItem } from './ui/selectionStatusItem';
import { Settings } from './ui/settings';

const CALIBRATION_KEY = 'kimiBudget.calibration';

export function activate(context: vscode.ExtensionContext): void {
  const settings = new Settings();
  const budget = new Budget(settings.config.limits, systemClock);
  const queue = new SendQueue<ChatResult>(budget, systemClock, verdictFor, settings.config.queue);
  const calibration = new Calibration(context.globalState.get<CalibrationState>(CALIBRATION_KEY));
  // The tokenizer loads in a worker on the first count, never during activation.
  const tokenCounter = new TokenCounter({ workerPath: path.join(context.extensionPath, 'dist', 'tokenWorker.js') });
  const counter = new SelectionCounter(tokenCounter, calibration, settings);
  const apiKey = new ApiKey(context.secrets);
  const answers = new AnswerDocuments();
  const session: SessionCost = { usd: 0, known: true };

  const summary = () =>
    summarize({
      snapshot: budget.snapshot(),
      entries: queue.entries(),
      heldBy: queue.headHeldBy,
      refusal: queue.refusal,
      now: systemClock.now(),
      model: settings.config.model,
      calibration: { ratio: calibration.ratio(settings.config.model), samples: calibration.samples(settings.config.model) },
      sessionCostUsd: session.usd,
      sessionCostKnown: session.known,
    });
  const budgetItem = new BudgetStatusItem(summary);
  const selectionItem = new SelectionStatusItem((text, signal) => counter.count(text, signal));
  const sender = new PromptSender(settings, apiKey, counter, calibration, queue, answers, session, () => {
    void context.globalState.update(CALIBRATION_KEY, calibration.toJSON());
    selectionItem.refresh();
  });

  context.subscriptions.push(
    settings,
    answers,
    budgetItem,
    selectionItem,
    { dispose: () => queue.dispose() },
    { dispose: () => tokenCounter.dispose() },
    { dispose: queue.onChange(() => budgetItem.refresh()) },
    settings.onDidChange((config) => {
      budget.setLimits(config.limits);
      queue.setOptions(config.queue);
      selectionItem.refresh();
    }),
    vscode.commands.registerCommand('kimiBudget.sendPrompt', () => sender.send()),
    vscode.commands.registerCommand('kimiBudget.countTokens', () => countTokens(counter, settings.config.maxOutputTokens)),
    vscode.commands.registerCommand('kimiBudget.showQueue', () => showQueue(queue, summary)),
    vscode.commands.registerCommand('kimiBudget.setApiKey', () => apiKey.prompt()),
  );
}

export function deactivate(): void {}

async function countTokens(counter: SelectionCounter, maxOutputTokens: number): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  if (!editor) {
    void vscode.window.showInformationMessage('Kimi: open a file and select text to count its tokens.');
    return;
  }
  const whole = editor.selection.isEmpty;
  try {
    const { tokens, note } = await counter.count(editor.document.getText(whole ? undefined : editor.selection));
    void vscode.window.showInformationMessage(
      `Kimi: ${tokens.toLocaleString('en-US')} tokens in the ${whole ? 'whole file' : 'selection'}; sent as a prompt it costs about ${(tokens + maxOutputTokens).toLocaleString('en-US')} of the minute's tokens with max output ${maxOutputTokens.toLocaleString('en-US')}. ${note}`,
    );
  } catch (error) {
    void vscode.window.showErrorMessage(`Kimi: could not count tokens: ${(error as Error).message}`);
  }
}
