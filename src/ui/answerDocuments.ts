import * as vscode from 'vscode';

const SCHEME = 'kimi-answer';
/** Answers kept for reopening in this window; older ones are dropped first. */
const KEEP = 100;

/**
 * Answers as read-only Markdown documents under the `kimi-answer:` scheme: they stream in without
 * edits to any file and close without a "save changes?" prompt.
 */
export class AnswerDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  // Registered after onDidChange exists: VS Code subscribes to it at registration only.
  private readonly registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, this);
  private next = 1;

  provideTextDocumentContent(uri: vscode.Uri): string {
    return this.texts.get(uri.toString()) ?? '(This answer is no longer kept. Answers live as long as the window.)';
  }

  /** A new answer document; shown beside the active editor on the first `show()`. */
  create(title: string): AnswerWriter {
    const uri = vscode.Uri.from({ scheme: SCHEME, path: `/Kimi answer ${this.next++} — ${title.replace(/[/\\]/g, ' ')}.md` });
    return new AnswerWriter(uri, (text) => {
      this.texts.set(uri.toString(), text);
      if (this.texts.size > KEEP) this.texts.delete(this.texts.keys().next().value!);
      this.changed.fire(uri);
    });
  }

  dispose(): void {
    this.registration.dispose();
    this.changed.dispose();
  }
}

/** Builds one answer document as parts arrive, re-rendering at most every 100 ms. */
export class AnswerWriter {
  private header = '';
  private reasoning = '';
  private content = '';
  private footer = '';
  private timer: NodeJS.Timeout | undefined;
  private shown = false;

  constructor(readonly uri: vscode.Uri, private readonly publish: (text: string) => void) {}

  setHeader(markdown: string): void {
    this.header = markdown;
    this.flushSoon();
  }

  appendReasoning(delta: string): void {
    this.reasoning += delta;
    this.flushSoon();
  }

  appendContent(delta: string): void {
    this.content += delta;
    this.flushSoon();
  }

  setFooter(markdown: string): void {
    this.footer = markdown;
    this.flush();
  }

  /** Clears a previous attempt's partial output before a retry. */
  resetAnswer(): void {
    this.reasoning = '';
    this.content = '';
    this.flushSoon();
  }

  async show(): Promise<void> {
    this.flush();
    if (this.shown) return;
    this.shown = true;
    const document = await vscode.workspace.openTextDocument(this.uri);
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
  }

  private flushSoon(): void {
    this.timer ??= setTimeout(() => this.flush(), 100);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const parts = [this.header];
    if (this.reasoning) parts.push('## Thinking', quote(this.reasoning));
    if (this.content || this.reasoning) parts.push('## Answer', this.content);
    if (this.footer) parts.push('---', this.footer);
    this.publish(parts.join('\n\n') + '\n');
  }
}

function quote(text: string): string {
  return text.split('\n').map((line) => `> ${line}`).join('\n');
}
