import * as vscode from 'vscode';
import { apiKeyProblem } from '../kimi';
import { Notifier } from './notifier';

const SECRET = 'kimiBudget.apiKey';

/** The Moonshot key: in SecretStorage, with MOONSHOT_API_KEY from the environment as a fallback. */
export class ApiKey implements vscode.Disposable {
  /** The stored key, read once (a read crosses to the window: tens of milliseconds) until it changes. */
  private stored: Thenable<string | undefined> | undefined;
  private readonly watch: vscode.Disposable;

  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly notifier: Notifier,
  ) {
    // Also fires when another window of this profile stores or deletes the key.
    this.watch = secrets.onDidChange((e) => {
      if (e.key === SECRET) this.stored = undefined;
    });
  }

  async get(): Promise<string | undefined> {
    const read = (this.stored ??= this.secrets.get(SECRET));
    let stored: string | undefined;
    try {
      stored = await read;
    } catch (error) {
      if (this.stored === read) this.stored = undefined; // not kept: the next send reads again
      throw error;
    }
    return stored || process.env.MOONSHOT_API_KEY?.trim() || undefined;
  }

  dispose(): void {
    this.watch.dispose();
  }

  /** Asks for a key and stores it; resolves whether one was stored. */
  async prompt(): Promise<boolean> {
    const key = await vscode.window.showInputBox({
      title: 'Kimi: Set API Key',
      prompt: "Your Moonshot API key, from the Moonshot platform console. It is kept in VS Code's secret storage.",
      placeHolder: 'sk-…',
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => apiKeyProblem(value.trim()), // an empty value removes the key
    });
    if (key === undefined) return false;
    if (!key.trim()) {
      await this.secrets.delete(SECRET);
      this.stored = undefined;
      this.notifier.notify('info', 'Kimi: the stored API key was removed.');
      return false;
    }
    await this.secrets.store(SECRET, key.trim());
    this.stored = undefined;
    this.notifier.notify('info', 'Kimi: API key saved in secret storage.');
    return true;
  }
}
