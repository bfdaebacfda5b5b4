import * as vscode from 'vscode';
import { actualCost, formatUsd, maxCost, priceOf } from '../core/cost';
import { SendQueue, SendRejected } from '../core/sendQueue';
import { ChatResult, KimiClient, KimiError } from '../kimi';
import { contextWindowOf } from '../kimi/models';
import { Calibration } from '../tokens/calibration';
import { ApiKey } from './apiKey';
import { AnswerDocuments, AnswerWriter } from './answerDocuments';
import { duration, HELD_BY } from './budgetSummary';
import { describeFailure, FailureMessage, FixAction } from './failure';
import { Action, Notifier, openSettings, setApiKey } from './notifier';
import { SelectionCounter } from './selectionCounter';
import { Settings } from './settings';

/** Session totals shown in the budget tooltip. */
export interface SessionCost {
  usd: number;
  /** False once an answer came from a model without a known price. */
  known: boolean;
}

/** "Kimi: Send Prompt": count, queue, stream the answer beside the prompt, and say what went wrong. */
export class PromptSender {
  private unsentInput = '';

  constructor(
    private readonly settings: Settings,
    private readonly apiKey: ApiKey,
    private readonly counter: SelectionCounter,
    private readonly calibration: Calibration,
    private readonly queue: SendQueue<ChatResult>,
    private readonly answers: AnswerDocuments,
    private readonly session: SessionCost,
    private readonly notifier: Notifier,
    private readonly onCalibrated: () => void,
  ) {}

  async send(): Promise<void> {
    const text = await this.promptText();
    if (text === undefined) return;
    if (!text.trim()) {
      this.notifier.notify('warning', 'Kimi: nothing to send — the selection is empty or only white space. Select the prompt, or run the command with nothing selected to type one.');
      return;
    }
    if (!(await this.apiKey.get())) {
      this.keep(text);
      this.tell(describeFailure(new KimiError({ kind: 'unauthorized', message: 'No Moonshot API key is set. Set one to send prompts.' }), this.context(1)));
      return;
    }
    const { model, maxOutputTokens, baseUrl, prices } = this.settings.config;
    const counted = await this.counter.countWithProgress(text);
    if (!counted) return;
    const estimate = this.calibration.estimate(model, counted.tokens, 1);
    const price = priceOf(model, prices);
    // Always an estimate: Kimi's own tokenizer is not available locally (the server's count settles it).
    const summary = `≈${n(estimate.tokens)} prompt + ${n(maxOutputTokens)} max output tokens${price ? `, up to ${formatUsd(maxCost(price, estimate.tokens, maxOutputTokens))}` : ''}`;
    const label = firstLine(text);
    const client = new KimiClient({ baseUrl, apiKey: () => this.apiKey.get() });
    let writer: AnswerWriter | undefined;
    let attempts = 0;

    let ticket;
    try {
      ticket = this.queue.enqueue({
        label,
        promptTokens: estimate.tokens,
        maxTokens: maxOutputTokens,
        contextWindow: contextWindowOf(model),
        run: async ({ signal, number: attempt, serverAnswered }) => {
          attempts = attempt;
          writer ??= this.answers.create(label);
          writer.setHeader(header(model, text, summary, attempt));
          writer.resetAnswer();
          await writer.show();
          const w = writer;
          const result = await client.streamChat(
            { model, messages: [{ role: 'user', content: text }], maxTokens: maxOutputTokens },
            { onResponse: serverAnswered, onReasoning: (d) => w.appendReasoning(d), onContent: (d) => w.appendContent(d) },
            signal,
          );
          return { value: result, promptTokens: result.usage?.promptTokens };
        },
      });
    } catch (error) {
      if (!(error instanceof SendRejected)) throw error;
      this.keep(text);
      this.tell(describeFailure(error, this.context(0)));
      return;
    }

    const id = ticket.id;
    const outcome = vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Kimi: ${summary}`, cancellable: true },
      async (progress, token) => {
        token.onCancellationRequested(() => this.queue.cancel(id));
        const tick = () => progress.report({ message: this.progressMessage(id) });
        tick();
        const ticker = setInterval(tick, 1000);
        try {
          return await ticket.result;
        } finally {
          clearInterval(ticker);
        }
      },
    );

    try {
      const result = await outcome;
      this.unsentInput = '';
      this.finished(result, counted.tokens, writer);
    } catch (error) {
      if (error instanceof KimiError && error.partial) writer?.setFooter(`_Stopped: ${error.message}_`);
      else writer?.setFooter(`_Failed: ${error instanceof Error ? error.message : String(error)}_`);
      if (!(error instanceof KimiError && error.streamed)) this.keep(text);
      this.tell(describeFailure(error, this.context(attempts)));
    }
  }

  private finished(result: ChatResult, localTokens: number, writer: AnswerWriter | undefined): void {
    const { usage, model, finishReason } = result;
    const { maxOutputTokens, prices } = this.settings.config;
    const parts: string[] = [];
    if (usage) {
      this.calibration.record(model, localTokens, 1, usage.promptTokens);
      this.onCalibrated();
      const price = priceOf(model, prices);
      if (price) this.session.usd += actualCost(price, usage);
      else this.session.known = false;
      parts.push(`${n(usage.promptTokens)} prompt tokens (server count)`, `${n(usage.completionTokens)} output tokens`);
      if (usage.cachedTokens) parts.push(`${n(usage.cachedTokens)} cached`);
      parts.push(price ? `cost ${formatUsd(actualCost(price, usage))}` : `no price known for ${model} (kimiBudget.prices)`);
    } else {
      parts.push('the server reported no usage');
    }
    parts.push(`finished: ${finishReason ?? 'unknown'}`);
    writer?.setFooter(`_${parts.join(' · ')}_`);
    if (finishReason === 'length') {
      this.notifier.notify('warning', `Kimi: the answer stopped at max_tokens (${maxOutputTokens}). Raise kimiBudget.maxOutputTokens for longer answers; each send then costs more of the minute's tokens.`, openSettings('kimiBudget.maxOutputTokens'));
    }
  }

  private progressMessage(id: number): string {
    const entry = this.queue.entries().find((e) => e.id === id);
    if (!entry) return '';
    if (entry.state === 'running') return 'sending — the answer streams into the editor beside. Cancel stops it (its budget stays spent).';
    const held = this.queue.headHeldBy;
    const why = held ? ` — held by ${HELD_BY[held]}` : '';
    return entry.eta === undefined ? `queued${why}` : `queued, goes out in ${duration(entry.eta - Date.now())}${why}`;
  }

  /** The selection, or a typed prompt when nothing is selected; undefined when the user backs out. */
  private async promptText(): Promise<string | undefined> {
    const editor = vscode.window.activeTextEditor;
    if (editor && !editor.selection.isEmpty) return editor.document.getText(editor.selection);
    return vscode.window.showInputBox({
      title: 'Kimi: Send Prompt',
      prompt: 'Nothing is selected: type a prompt (or select text in an editor first).',
      value: this.unsentInput,
      ignoreFocusOut: true,
    });
  }

  /** Keeps a typed prompt that did not go out, so the next input box offers it again. */
  private keep(text: string): void {
    if (vscode.window.activeTextEditor?.selection.isEmpty !== false) this.unsentInput = text;
  }

  private context(attempts: number) {
    const { model, baseUrl } = this.settings.config;
    return { model, baseUrl, attempts };
  }

  private tell(failure: FailureMessage): void {
    const actions: Record<FixAction, Action> = {
      'Set API Key': setApiKey,
      'Open Settings': openSettings('kimiBudget'),
      'Pick a Model': { title: 'Pick a Model', run: () => this.pickModel() },
    };
    this.notifier.notify(failure.severity, failure.message, ...failure.actions.map((a) => actions[a]));
  }

  private async pickModel(): Promise<void> {
    const { baseUrl } = this.settings.config;
    try {
      const models = await new KimiClient({ baseUrl, apiKey: () => this.apiKey.get() }).listModels();
      const picked = await vscode.window.showQuickPick(models, { title: 'Kimi: models the server offers', placeHolder: 'Sets kimiBudget.model' });
      if (picked) await vscode.workspace.getConfiguration('kimiBudget').update('model', picked, vscode.ConfigurationTarget.Global);
    } catch (error) {
      this.tell(describeFailure(error, this.context(1)));
    }
  }
}

function header(model: string, prompt: string, summary: string, attempt: number): string {
  const shown = prompt.length > 2_000 ? `${prompt.slice(0, 2_000)}\n… (${n(prompt.length - 2_000)} more characters)` : prompt;
  const retry = attempt > 1 ? ` · attempt ${attempt}` : '';
  return `# Kimi · ${model}\n\n_${summary}${retry}_\n\n${shown.split('\n').map((l) => `> ${l}`).join('\n')}`;
}

function firstLine(text: string): string {
  const line = text.trim().split('\n')[0].trim();
  return line.length > 48 ? `${line.slice(0, 47)}…` : line;
}

function n(value: number): string {
  return value.toLocaleString('en-US');
}
