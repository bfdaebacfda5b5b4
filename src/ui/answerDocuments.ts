import * as vscode from 'vscode';
import { Conversation, Exchange } from '../core/conversation';
import { formatUsd } from '../core/cost';
import { History } from '../core/history';
import { formatCount } from './budgetSummary';

const SCHEME = 'kimi-answer';

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
  private readonly pending = new Map<string, PendingTurn>();
  private readonly context = new Map<string, string>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(private readonly history: () => History) {}

  uriOf(conversation: Conversation): vscode.Uri {
    const title = conversation.title.replace(/[/\\?#%]/g, ' ').trim() || 'conversation';
    return vscode.Uri.from({ scheme: SCHEME, path: `/${conversation.id}/Kimi — ${title}.md` });
  }

  /** The conversation an answer document shows, if `uri` is one. */
  conversationOf(uri: vscode.Uri | undefined): string | undefined {
    return uri?.scheme === SCHEME ? uri.path.split('/')[1] : undefined;
  }

  provideTextDocumentContent(uri: vscode.Uri): string {
    const id = this.conversationOf(uri)!;
    const conversation = this.history().get(id);
    if (!conversation) return '(This conversation is no longer in the history: it was the oldest when the history reached its size limit.)\n';
    return render(conversation, this.pending.get(id), this.context.get(id));
  }

  /** Starts showing a turn being answered; update it and call refresh(), then settle() when it ends. */
  begin(conversation: Conversation, turn: PendingTurn): PendingTurn {
    this.pending.set(conversation.id, turn);
    this.refresh(conversation);
    return turn;
  }

  /** Ends the pending turn (it is in the history now, or it failed with `note`). */
  settle(conversation: Conversation, note?: string): void {
    const turn = this.pending.get(conversation.id);
    if (turn && note) turn.status = note;
    else this.pending.delete(conversation.id);
    this.refreshNow(conversation);
  }

  /** The line under the conversation that says how full the context window is. */
  setContextLine(conversation: Conversation, line: string): void {
    this.context.set(conversation.id, line);
    this.refresh(conversation);
  }

  /** Re-renders soon (at most every 100 ms while an answer streams). */
  refresh(conversation: Conversation): void {
    if (this.timers.has(conversation.id)) return;
    this.timers.set(conversation.id, setTimeout(() => this.refreshNow(conversation), 100));
  }

  async show(conversation: Conversation): Promise<void> {
    const uri = this.uriOf(conversation);
    const open = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri.toString());
    if (open) return;
    const document = await vscode.workspace.openTextDocument(uri);
    await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: false, preserveFocus: true });
  }

  private refreshNow(conversation: Conversation): void {
    clearTimeout(this.timers.get(conversation.id));
    this.timers.delete(conversation.id);
    this.changed.fire(this.uriOf(conversation));
  }

  dispose(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.registration.dispose();
    this.changed.dispose();
  }
}

function render(conversation: Conversation, pending: PendingTurn | undefined, contextLine: string | undefined): string {
  const parts = [`# Kimi · ${conversation.title}`];
  if (conversation.systemPrompt) parts.push(`_System prompt:_\n\n${quote(conversation.systemPrompt)}`);
  if (conversation.firstSent > 0) {
    parts.push(`_The first ${conversation.firstSent} exchange${conversation.firstSent === 1 ? ' is' : 's are'} no longer sent${conversation.summary ? ': a summary of them is sent instead' : ''}._`);
  }
  conversation.exchanges.forEach((exchange, i) => parts.push(...renderExchange(exchange, i < conversation.firstSent)));
  if (pending) {
    parts.push('## You', quote(clip(pending.prompt)), `## Kimi`, `_${pending.status}_`);
    if (pending.reasoning) parts.push(quote(pending.reasoning));
    if (pending.content) parts.push(pending.content);
  }
  if (contextLine) parts.push('---', `_${contextLine}_`);
  return parts.join('\n\n') + '\n';
}

function renderExchange(exchange: Exchange, dropped: boolean): string[] {
  const usage = exchange.usage
    ? `${formatCount(exchange.usage.promptTokens)} prompt tokens (server count) · ${formatCount(exchange.usage.completionTokens)} output tokens${exchange.usage.cachedTokens ? ` · ${formatCount(exchange.usage.cachedTokens)} cached` : ''}`
    : 'the server reported no usage';
  const cost = exchange.costUsd === undefined ? `no price known for ${exchange.model} (kimiBudget.prices)` : `cost ${formatUsd(exchange.costUsd)}`;
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
  return text.split('\n').map((line) => `> ${line}`).join('\n');
}

