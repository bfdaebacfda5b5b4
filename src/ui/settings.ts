import * as vscode from 'vscode';
import { Config, parseConfig } from '../core/config';
import { Notifier, openSettings } from './notifier';
import { describeSettingProblem } from './words';

/** Settings a folder may choose that steer or cost every prompt sent from it: the user hears when one takes effect. */
const FOLDER_CHOSEN = ['systemPrompt', 'model', 'maxOutputTokens'] as const;
const ACKNOWLEDGED_KEY = 'kimiBudget.folderSettingsSeen';

/**
 * The `kimiBudget.*` settings, read in one place. A bad value gets its default and one warning
 * that names the key and the fix; the extension keeps running. The first time a folder's own value
 * for the system prompt, the model or the output limit takes effect, a notice says so.
 */
export class Settings implements vscode.Disposable {
  private current: Config;
  private warned = new Set<string>();
  private readonly changed = new vscode.EventEmitter<Config>();
  private readonly subscription: vscode.Disposable;
  readonly onDidChange = this.changed.event;

  /** `folderState`: the workspace's memento, where the folder values already announced are kept. */
  constructor(
    private readonly notifier: Notifier,
    private readonly folderState?: vscode.Memento,
  ) {
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
    // A limit counts as set only when the user set it (in user settings: limits are machine-scoped);
    // else the tier's applies.
    const { config, problems } = parseConfig(
      (key) => section.get(key),
      (key) => {
        const inspected = section.inspect(key);
        return inspected?.globalValue !== undefined || (key.startsWith('limits.') ? false : section.get(key) !== undefined);
      },
    );
    const said = problems.map((problem) => ({ key: problem.key, text: describeSettingProblem(problem) }));
    const fresh = said.filter((p) => !this.warned.has(p.text));
    this.warned = new Set(said.map((p) => p.text));
    for (const problem of fresh) this.notifier.notify('warning', `Kimi: ${problem.text}`, openSettings(`kimiBudget.${problem.key}`));
    this.announceFolderValues(section);
    return config;
  }

  private announceFolderValues(section: vscode.WorkspaceConfiguration): void {
    if (!this.folderState) return;
    const seen = new Set(this.folderState.get<string[]>(ACKNOWLEDGED_KEY, []));
    const fresh: string[] = [];
    for (const key of FOLDER_CHOSEN) {
      const inspected = section.inspect(key);
      const value = inspected?.workspaceFolderValue ?? inspected?.workspaceValue;
      if (value === undefined) continue;
      const said = `${key}=${JSON.stringify(value)}`;
      if (seen.has(said)) continue;
      seen.add(said);
      fresh.push(`kimiBudget.${key} (${JSON.stringify(value).slice(0, 120)})`);
    }
    if (!fresh.length) return;
    void this.folderState.update(ACKNOWLEDGED_KEY, [...seen]);
    this.notifier.notify(
      'info',
      `Kimi: this folder's settings choose ${fresh.join(', ')}. They apply to every prompt sent from this folder; your own settings apply elsewhere.`,
      openSettings('kimiBudget'),
    );
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}
