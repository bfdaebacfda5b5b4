import * as vscode from 'vscode';
import { Config, parseConfig } from '../core/config';
import { Notifier, openSettings } from './notifier';
import { describeSettingProblem } from './words';

/**
 * The `kimiBudget.*` settings, read in one place. A bad value gets its default and one warning
 * that names the key and the fix; the extension keeps running.
 */
export class Settings implements vscode.Disposable {
  private current: Config;
  private warned = new Set<string>();
  private readonly changed = new vscode.EventEmitter<Config>();
  private readonly subscription: vscode.Disposable;
  readonly onDidChange = this.changed.event;

  constructor(private readonly notifier: Notifier) {
    this.current = this.read();
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration('kimiBudget')) return;
      this.current = this.read();
      this.changed.fire(this.current);
    });
  }

  get config(): Config {
    return this.current;
  }

  /** The model the user picked from the server's list, kept in user settings (the change event follows). */
  async setModel(model: string): Promise<void> {
    await vscode.workspace.getConfiguration('kimiBudget').update('model', model, vscode.ConfigurationTarget.Global);
  }

  private read(): Config {
    const section = vscode.workspace.getConfiguration('kimiBudget');
    const { config, problems } = parseConfig((key) => section.get(key));
    const said = problems.map((problem) => ({ key: problem.key, text: describeSettingProblem(problem) }));
    const fresh = said.filter((p) => !this.warned.has(p.text));
    this.warned = new Set(said.map((p) => p.text));
    for (const problem of fresh) this.notifier.notify('warning', `Kimi: ${problem.text}`, openSettings(`kimiBudget.${problem.key}`));
    return config;
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
