import * as vscode from 'vscode';
import type { Conversations } from '../send/conversations';
import { formatCount, formatUsd } from './words';
import { AnswerDocuments } from './answerDocuments';

/** "Kimi: Show History": every kept conversation, most recent first; picking one reopens it. */
export async function showHistory(kept: Conversations, answers: AnswerDocuments): Promise<void> {
  const conversations = kept.list().filter((c) => c.exchanges.length > 0);
  if (!conversations.length) {
    void vscode.window.showInformationMessage('Kimi: no answers yet. Answers are kept here once they arrive.');
    return;
  }
  const items = conversations.map((c) => {
    const cost = c.exchanges.reduce((sum, e) => sum + (e.costUsd ?? 0), 0);
    const tokens = c.exchanges.reduce((sum, e) => sum + (e.usage ? e.usage.promptTokens + e.usage.completionTokens : 0), 0);
    return {
      conversation: c,
      label: c.title,
      description: `${c.exchanges.at(-1)!.model} · ${c.exchanges.length} exchange${c.exchanges.length === 1 ? '' : 's'}`,
      detail: `${new Date(c.updatedAt).toLocaleString()} · ${formatCount(tokens)} tokens · ${formatUsd(cost)}`,
    };
  });
  const picked = await vscode.window.showQuickPick(items, {
    title: 'Kimi: history',
    placeHolder: 'Reopen a conversation (then "Kimi: Send Follow-up" continues it)',
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (picked) await answers.show(picked.conversation);
}
