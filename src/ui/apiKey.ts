import * as vscode from 'vscode';
import { Notifier } from './notifier';

const SECRET = 'kimiBudget.apiKey';

/** The Moonshot key: in SecretStorage, with MOONSHOT_API_KEY from the environment as a fallback. */
export class ApiKey {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    private readonly notifier: Notifier,
  ) {}

  async get(): Promise<string | undefined> {
    return (await this.secrets.get(SECRET)) || process.env.MOONSHOT_API_KEY?.trim() || undefined;
  }

  /** Asks for a key and stores it; resolves whether one was stored. */
  async prompt(): Promise<boolean> {
    const key = await vscode.window.showInputBox({
      title: 'Kimi: Set API Key',
      prompt: 'Your Moonshot API key, from the Moonshot platform console. It is kept in VS Code\'s secret storage.',
      placeHolder: 'sk-…',
      password: true,
      ignoreFocusOut: true,
      validateInput: (value) => (/\s/.test(value.trim()) ? 'A key has no spaces inside it.' : undefined),
    });
    if (key === undefined) return false;
    if (!key.trim()) {
      await this.secrets.delete(SECRET);
      this.notifier.notify('info', 'Kimi: the stored API key was removed.');
      return false;
    }
    await this.secrets.store(SECRET, key.trim());
    this.notifier.notify('info', 'Kimi: API key saved in secret storage.');
    return true;
  }
}
