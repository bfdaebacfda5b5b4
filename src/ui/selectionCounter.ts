import * as vscode from 'vscode';
import { Calibration } from '../tokens/calibration';
import { TokenCounter } from '../tokens/tokenCounter';
import { formatCount } from './words';
import { Notifier } from './notifier';
import { Settings } from './settings';

export interface CountedText {
  /** An estimate of the model's count: Kimi's own tokenizer is not available locally. */
  readonly tokens: number;
  /** How the number was reached, for tooltips and messages. */
  readonly note: string;
}

/** Counts text for the current model: the o200k stand-in, scaled by what answers taught so far. */
export class SelectionCounter {
  constructor(
    private readonly counter: TokenCounter,
    private readonly calibration: Calibration,
    private readonly settings: Settings,
    private readonly notifier: Notifier,
  ) {}

  /** `model`: whose calibration applies (default: the configured model). */
  async count(text: string, signal?: AbortSignal, model = this.settings.config.model): Promise<CountedText> {
    const raw = await this.counter.count(text, signal);
    const ratio = this.calibration.ratio(model);
    const samples = this.calibration.samples(model);
    const tokens = samples > 0 ? Math.ceil(raw.tokens * ratio) : raw.tokens;
    const how = raw.exact ? 'o200k stand-in' : 'o200k stand-in, estimated in bounded time (the text has very long unbroken runs)';
    const note =
      samples > 0
        ? `Counted with the ${how}, × ${ratio.toFixed(3)} calibrated for ${model} on ${samples} answer${samples === 1 ? '' : 's'}.`
        : `Counted with the ${how}; ${model}'s own tokenizer differs, so this is an estimate until an answer calibrates it.`;
    return { tokens, note };
  }

  /** "Kimi: Count Tokens in Selection": the count, and what it would cost as a prompt. */
  async announce(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      this.notifier.notify('info', 'Kimi: open a file and select text to count its tokens.');
      return;
    }
    const whole = editor.selection.isEmpty;
    const { maxOutputTokens } = this.settings.config;
    try {
      const { tokens, note } = await this.count(editor.document.getText(whole ? undefined : editor.selection));
      this.notifier.notify(
        'info',
        `Kimi: ${formatCount(tokens)} tokens in the ${whole ? 'whole file' : 'selection'}. Sent as a prompt it takes about ${formatCount(tokens + maxOutputTokens)} of the minute's tokens (with ${formatCount(maxOutputTokens)} max output). ${note}`,
      );
    } catch (error) {
      this.notifier.notify('error', `Kimi: could not count tokens: ${(error as Error).message}`);
    }
  }

  /** Runs a count with a cancellable notification when it takes more than a moment; undefined if cancelled or failed (said). */
  async withProgress<T>(characters: number, work: (signal: AbortSignal) => Promise<T>): Promise<T | undefined> {
    // The window's first count starts the tokenizer, which takes longer than most counts: said so.
    const starting = !this.counter.started;
    const controller = new AbortController();
    const counting = work(controller.signal);
    const quick = await Promise.race([
      counting.then(
        () => true,
        () => true,
      ),
      delay(400).then(() => false),
    ]);
    try {
      if (quick) return await counting;
      return await vscode.window.withProgress(
        {
          location: vscode.ProgressLocation.Notification,
          title: `Kimi: ${starting ? 'starting the token counter, then ' : ''}counting tokens in ${formatCount(characters)} characters…`,
          cancellable: true,
        },
        (_progress, token) =>
          // Cancel ends the wait at once, whether or not the count has noticed yet.
          new Promise<T>((resolve, reject) => {
            token.onCancellationRequested(() => {
              controller.abort();
              reject(abortError());
            });
            counting.then(resolve, reject);
          }),
      );
    } catch (error) {
      if ((error as Error).name !== 'AbortError')
        this.notifier.notify('error', `Kimi: could not count the prompt's tokens: ${(error as Error).message}`);
      return undefined;
    }
  }
}

function abortError(): Error {
  const error = new Error('The count was cancelled.');
  error.name = 'AbortError';
  return error;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
