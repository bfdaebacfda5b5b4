import * as vscode from 'vscode';
import { Conversation, Exchange } from '../core/conversation';
import type { Conversations } from '../send/conversations';
import { inertMarkdown } from './inert';
import { formatCount, formatUsd } from './words';

const SCHEME = 'kimi-answer';
/** Tries at opening an answer's editor, and the pause before the second (growing after it). */
const OPEN_ATTEMPTS = 4;
const OPEN_RETRY_MS = 150;
/** Checks that an ended turn reached its open document, and the pause before the first (growing after it). */
const RECONCILE_ATTEMPTS = 8;
const RECONCILE_MS = 150;
/** The check after which a document still behind is opened again. */
const RECONCILE_REOPEN = 3;

/** The turn being answered right now, shown below the conversation's answered turns. */
export interface PendingTurn {
  prompt: string;
  /** Estimated cost and state, in one line. */
  status: string;
  reasoning: string;
  content: string;
}

/**
 * Conversations as read-only Markdown documents under the `kimi-answer:` scheme, one per
 * conversation: answers stream in without edits to any file, and close without a "save changes?"
 * prompt. The document's path carries the conversation's id, so a follow-up knows what it follows.
 */
export class AnswerDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  // Registered after onDidChange exists: VS Code subscribes to it at registration only.
  private readonly registration = vscode.workspace.registerTextDocumentContentProvider(SCHEME, this);
  /** The turn being answered (or that failed, with its note), and its conversation, by conversation id. */
  private readonly pending = new Map<string, { conversation: Conversation; turn: PendingTurn }>();
  private readonly context = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** The open under way, if any: the next waits for it. */
  private opening: Promise<unknown> = Promise.resolve();
  /** Conversations whose turn is under way (between begin and settle). */
  private readonly streaming = new Set<string>();
  private disposed = false;

  constructor(private readonly conversations: Conversations) {}

  /**
   * The name has no extension (a dot in the title is shown as a one-dot leader), so that VS Code
   * gives it no language of its own: this class decides when it becomes Markdown.
   */
  uriOf(conversation: Conversation): vscode.Uri {
    const title =
      conversation.title
        .replace(/[/\\?#%]/g, ' ')
        .replace(/\./g, '\u2024')
        .trim() || 'conversation';
    return vscode.Uri.from({ scheme: SCHEME, path: `/${conversation.id}/Kimi — ${title}` });
  }

  /** The conversation an answer document shows, if `uri` is one. */
  conversationOf(uri: vscode.Uri | undefined): string | undefined {
    return uri?.scheme === SCHEME ? uri.path.split('/')[1] : undefined;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const id = this.conversationOf(uri)!;
    const pending = this.pending.get(id);
    // A first send that never went out is not kept in the history, but its editor says why.
    const conversation = this.conversations.get(id) ?? pending?.conversation;
    if (!conversation)
      return '(This conversation is no longer in the history: it was the oldest when the history reached its size limit.)\n';
    return render(conversation, pending?.turn, this.context.get(id));
  }

  /** Starts showing a turn being answered; update it and call refresh(), then settle() when it ends. */
  begin(conversation: Conversation, turn: PendingTurn): PendingTurn {
    this.pending.set(conversation.id, { conversation, turn });
    this.streaming.add(conversation.id);
    this.refresh(conversation);
    return turn;
  }

  /** Ends the pending turn (it is in the history now, or it failed with `note`). */
  settle(conversation: Conversation, note?: string): void {
    const turn = this.pending.get(conversation.id)?.turn;
    if (turn && note) turn.status = note;
    else this.pending.delete(conversation.id);
    this.streaming.delete(conversation.id);
    this.refreshNow(conversation);
    const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === this.uriOf(conversation).toString());
    // Turning Markdown reopens the document, and a change fired just before may reach only the old
    // one: the new one is told to read the content again, so the end of the answer is never lost.
    if (document && document.languageId !== 'markdown') void this.asMarkdown(document).then(() => this.refreshNow(conversation));
    this.reconcile(this.uriOf(conversation));
  }

  /**
   * Makes sure the open document ends up showing the ended turn. VS Code drops a change it is told
   * of while the document is between states (being opened, or reopened as Markdown): the window
   * would keep an answer cut short. So once the turn has ended, the document is compared with what
   * it should show, and told again until they match (or it is closed: it reads afresh when opened).
   */
  private reconcile(uri: vscode.Uri, attempt = 1): void {
    const key = `reconcile:${uri.toString()}`;
    const timer = setTimeout(() => {
      this.timers.delete(key);
      if (this.disposed) return;
      const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
      // Not open: closed (it reads afresh when opened) or still opening (open() reconciles it once open).
      if (!document || document.getText() === this.provideTextDocumentContent(uri)) return;
      this.changed.fire(uri);
      if (attempt === RECONCILE_REOPEN) void this.reopen(document);
      if (attempt < RECONCILE_ATTEMPTS) this.reconcile(uri, attempt + 1);
    }, RECONCILE_MS * attempt);
    clearTimeout(this.timers.get(key));
    this.timers.set(key, timer);
  }

  /** The line under the conversation that says how full the context window is. */
  setContextLine(conversation: Conversation, line: string): void {
    this.context.set(conversation.id, line);
    this.refresh(conversation);
  }

  /** Re-renders soon (at most every 100 ms while an answer streams). */
  refresh(conversation: Conversation): void {
    if (this.timers.has(conversation.id)) return;
    this.timers.set(
      conversation.id,
      setTimeout(() => this.refreshNow(conversation), 100),
    );
  }

  /**
   * Shows the conversation's document beside the active editor, unless it is visible already.
   * Opens go one at a time, each retried a few times: VS Code gives up an open that a newer open in
   * the same editor group overtakes ("Could NOT open editor"), which sends that go out together
   * would otherwise do to each other. Rejects only when every try failed.
   */
  show(conversation: Conversation): Promise<void> {
    const uri = this.uriOf(conversation);
    const shown = this.opening.then(() => this.open(uri));
    this.opening = shown.catch(() => undefined);
    return shown;
  }

  private async open(uri: vscode.Uri): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      if (vscode.window.visibleTextEditors.some((e) => e.document.uri.toString() === uri.toString())) return;
      try {
        let document = await vscode.workspace.openTextDocument(uri);
        // While an answer streams in a window where VS Code's Markdown support has not started yet,
        // it is shown as plain text: starting it takes about a second of both cores here, which
        // would hold up the answer. It becomes Markdown when its turn ends (settle).
        if (markdownStarted() || !this.streaming.has(this.conversationOf(uri)!)) document = await this.asMarkdown(document);
        await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
        // An ended turn's change told while it opened reached no document: it may be behind. (A turn
        // still under way is reconciled when it ends.)
        if (!this.streaming.has(this.conversationOf(uri)!)) this.reconcile(uri);
        return;
      } catch (error) {
        if (attempt >= OPEN_ATTEMPTS || this.disposed) throw error;
        await new Promise((resolve) => setTimeout(resolve, OPEN_RETRY_MS * attempt));
      }
    }
  }

  /** Has VS Code read the document afresh: its language set to plain text and back to Markdown. */
  private async reopen(document: vscode.TextDocument): Promise<void> {
    try {
      const plain = await vscode.languages.setTextDocumentLanguage(document, 'plaintext');
      await vscode.languages.setTextDocumentLanguage(plain, 'markdown');
    } catch {
      // closed meanwhile: it reads afresh when opened again
    }
  }

  private async asMarkdown(document: vscode.TextDocument): Promise<vscode.TextDocument> {
    if (document.languageId === 'markdown' || document.isClosed) return document;
    try {
      return await vscode.languages.setTextDocumentLanguage(document, 'markdown');
    } catch {
      return document; // closed meanwhile: it opens as Markdown next time
    }
  }

  private refreshNow(conversation: Conversation): void {
    clearTimeout(this.timers.get(conversation.id));
    this.timers.delete(conversation.id);
    this.changed.fire(this.uriOf(conversation));
  }

  dispose(): void {
    this.disposed = true;
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.registration.dispose();
    this.changed.dispose();
  }
}

/** Whether VS Code's Markdown extension has started in this window (or is not there to start). */
function markdownStarted(): boolean {
  return vscode.extensions.getExtension('vscode.markdown-language-features')?.isActive ?? true;
}

function render(conversation: Conversation, pending: PendingTurn | undefined, contextLine: string | undefined): string {
  const parts = [`# Kimi · ${conversation.title}`];
  if (conversation.systemPrompt) parts.push(`_System prompt:_\n\n${quote(conversation.systemPrompt)}`);
  if (conversation.firstSent > 0) {
    parts.push(
      `_The first ${conversation.firstSent} exchange${conversation.firstSent === 1 ? ' is' : 's are'} no longer sent${conversation.summary ? ': a summary of them is sent instead' : ''}._`,
    );
  }
  conversation.exchanges.forEach((exchange, i) => parts.push(...renderExchange(exchange, i < conversation.firstSent)));
  if (pending) {
    parts.push('## You', quote(clip(pending.prompt)), `## Kimi`, `_${pending.status}_`);
    if (pending.reasoning) parts.push(quote(pending.reasoning));
    if (pending.content) parts.push(pending.content);
  }
  if (contextLine) parts.push('---', `_${contextLine}_`);
  // Answers, prompts from files, server errors and a folder's system prompt are shown as they are, but never as a command to run.
  return inertMarkdown(parts.join('\n\n') + '\n');
}

function renderExchange(exchange: Exchange, dropped: boolean): string[] {
  const usage = exchange.usage
    ? `${formatCount(exchange.usage.promptTokens)} prompt tokens (server count) · ${formatCount(exchange.usage.completionTokens)} output tokens${exchange.usage.cachedTokens ? ` · ${formatCount(exchange.usage.cachedTokens)} cached` : ''}`
    : 'the server reported no usage';
  const cost =
    exchange.costUsd === undefined ? `no price known for ${exchange.model} (kimiBudget.prices)` : `cost ${formatUsd(exchange.costUsd)}`;
  const parts = [`## You${dropped ? ' (no longer sent)' : ''}`, quote(clip(exchange.prompt)), `## Kimi · ${exchange.model}`];
  if (exchange.reasoning) parts.push(quote(exchange.reasoning));
  const attempts = exchange.attempts && exchange.attempts > 1 ? ` · answered on attempt ${exchange.attempts}` : '';
  parts.push(exchange.answer, `_${usage} · ${cost} · finished: ${exchange.finishReason ?? 'unknown'}${attempts}_`);
  return parts;
}

function clip(prompt: string): string {
  return prompt.length > 2_000 ? `${prompt.slice(0, 2_000)}\n… (${formatCount(prompt.length - 2_000)} more characters)` : prompt;
}

function quote(text: string): string {
  return text
    .split('\n')
    .map((line) => `> ${line}`)
    .join('\n');
}
