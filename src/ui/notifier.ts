import * as vscode from 'vscode';
import { inertText } from './inert';

export type Severity = 'error' | 'warning' | 'info';

export interface Action {
  readonly title: string;
  run(): unknown;
}

export interface ShownMessage {
  readonly severity: Severity;
  readonly text: string;
  readonly actions: readonly string[];
}

/** Every message the extension shows goes through here: shown, logged to the "Kimi Budget" output, and kept. */
export class Notifier implements vscode.Disposable {
  private readonly log = vscode.window.createOutputChannel('Kimi Budget', { log: true });
  private readonly recent: ShownMessage[] = [];

  /** Shows a message without waiting for it; a picked action runs. */
  notify(severity: Severity, text: string, ...actions: Action[]): void {
    void this.show(
      severity,
      text,
      {},
      actions.map((a) => a.title),
    ).then((picked) => actions.find((a) => a.title === picked)?.run());
  }

  /** Shows a message with choices and resolves with the one picked (undefined when dismissed). */
  ask(severity: Severity, text: string, options: { modal?: boolean }, ...choices: string[]): Promise<string | undefined> {
    return this.show(severity, text, options, choices);
  }

  /** Every message is made inert first: parts of it come from servers, settings and files. */
  private async show(severity: Severity, text: string, options: { modal?: boolean }, choices: string[]): Promise<string | undefined> {
    const shown = inertText(text);
    this.recent.push({ severity, text: shown, actions: choices });
    if (this.recent.length > 50) this.recent.shift();
    (severity === 'error' ? this.log.error : severity === 'warning' ? this.log.warn : this.log.info).call(this.log, shown);
    const show =
      severity === 'error'
        ? vscode.window.showErrorMessage
        : severity === 'warning'
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    return show(shown, options, ...choices);
  }

  /** Writes to the "Kimi Budget" output only: what happened, for whoever looks. */
  record(text: string): void {
    this.log.info(inertText(text));
  }

  /** The last messages shown, oldest first. */
  get messages(): readonly ShownMessage[] {
    return this.recent;
  }

  dispose(): void {
    this.log.dispose();
  }
}

export function openSettings(query: string): Action {
  return { title: 'Open Settings', run: () => vscode.commands.executeCommand('workbench.action.openSettings', query) };
}

export const setApiKey: Action = { title: 'Set API Key', run: () => vscode.commands.executeCommand('kimiBudget.setApiKey') };
