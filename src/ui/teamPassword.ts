import * as vscode from 'vscode';
import { Notifier } from './notifier';

const SECRET = 'kimiBudget.teamRedisPassword';

/** The team's Redis password: in SecretStorage only, never in settings (a password in the URL is refused). */
export class TeamPassword implements vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<void>();
  readonly onDidChange = this.changed.event;
  private readonly watch: vscode.Disposable;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly notifier: Notifier,
  ) {
    this.watch = secrets.onDidChange((e) => e.key === SECRET && this.changed.fire());
  }

  async get(): Promise<string | undefined> {
    return (await this.secrets.get(SECRET)) || undefined;
  }

  async prompt(): Promise<void> {
    const password = await vscode.window.showInputBox({
      title: 'Kimi: Set Team Redis Password',
      prompt: "The password of the team's Redis (kimiBudget.team.redisUrl). It is kept in VS Code's secret storage. Empty removes it.",
      password: true,
      ignoreFocusOut: true,
    });
    if (password === undefined) return;
    if (!password) {
      await this.secrets.delete(SECRET);
      this.notifier.notify('info', 'Kimi: the team Redis password was removed.');
      return;
    }
    await this.secrets.store(SECRET, password);
    this.notifier.notify('info', 'Kimi: team Redis password saved in secret storage.');
  }

  dispose(): void {
    this.watch.dispose();
    this.changed.dispose();
  }
}
