import * as vscode from 'vscode';
import { formatCount } from './words';

/** Tokens in the current selection, or the whole document when nothing is selected; debounced. */
export class SelectionStatusItem implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('kimiBudget.selection', vscode.StatusBarAlignment.Right, 99);
  private readonly subscriptions: vscode.Disposable[] = [];
  private debounce: NodeJS.Timeout | undefined;
  private inFlight: AbortController | undefined;
  private last: { key: string; tokens: number } | undefined;
  private shownLabel: string | undefined;

  constructor(
    private readonly count: (text: string, signal: AbortSignal) => Promise<{ tokens: number; note: string }>,
    private readonly debounceMs = 300,
  ) {
    this.item.name = 'Kimi Tokens in Selection';
    this.item.command = 'kimiBudget.countTokens';
    this.subscriptions.push(
      vscode.window.onDidChangeTextEditorSelection(() => this.schedule()),
      vscode.window.onDidChangeActiveTextEditor(() => this.schedule()),
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (e.document === vscode.window.activeTextEditor?.document) this.schedule();
      }),
    );
    this.schedule();
  }

  /** Re-counts now (after a calibration change, for instance). */
  refresh(): void {
    this.last = undefined;
    this.schedule(0);
  }

  private schedule(delay = this.debounceMs): void {
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.update(), delay);
  }

  private async update(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    if (!editor) {
      this.item.hide();
      this.shownLabel = undefined;
      return;
    }
    const { document, selection } = editor;
    const whole = selection.isEmpty;
    const key = `${document.uri.toString()}@${document.version}:${whole ? 'doc' : document.offsetAt(selection.start) + '-' + document.offsetAt(selection.end)}`;
    if (this.last?.key === key) return;
    this.inFlight?.abort();
    const controller = (this.inFlight = new AbortController());
    try {
      const { tokens, note } = await this.count(document.getText(whole ? undefined : selection), controller.signal);
      if (controller.signal.aborted) return;
      this.last = { key, tokens };
      this.item.text = `$(symbol-numeric) ≈${formatCount(tokens)} tok${whole ? ' in file' : ''}`;
      this.shownLabel = `Kimi tokens in selection: ${tokens}`;
      this.item.accessibilityInformation = { label: this.shownLabel, role: 'button' };
      this.item.tooltip = `${formatCount(tokens)} tokens in the ${whole ? 'whole file (nothing is selected)' : 'selection'}. ${note}`;
      this.item.show();
    } catch (error) {
      if ((error as Error).name === 'AbortError') return;
      this.item.text = '$(symbol-numeric) ?';
      this.item.tooltip = `Could not count tokens: ${(error as Error).message}`;
      this.item.show();
    }
  }

  /** The accessibility label shown, undefined while hidden or before the first count. */
  get label(): string | undefined {
    return this.shownLabel;
  }

  dispose(): void {
    clearTimeout(this.debounce);
    this.inFlight?.abort();
    for (const s of this.subscriptions) s.dispose();
    this.item.dispose();
  }
}
