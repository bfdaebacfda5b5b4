// `@kimi` in the Chat view: the conversation so far and the new prompt, through the same budget and
// line as every other send, with the estimated cost and any wait shown before the answer.
import * as vscode from 'vscode';
import type { ChatMessage } from '../../kimi';
import { Settings } from '../settings';
import { chatAnswered, chatCount, chatEstimate } from '../words';
import { BudgetedChatParts, budgetedChat, firstLine } from './budgetedChat';

export const PARTICIPANT_ID = 'kimiBudget.kimi';
/** The line under each answer starts so; it is not sent back with the conversation. */
const FOOTER = '\n\n---\n';

export interface KimiParticipantParts extends BudgetedChatParts {
  readonly settings: Settings;
  readonly extensionUri: vscode.Uri;
}

export function createKimiParticipant(parts: KimiParticipantParts): vscode.ChatParticipant {
  const participant = vscode.chat.createChatParticipant(PARTICIPANT_ID, (request, context, stream, token) =>
    answer(parts, request, context, stream, token),
  );
  participant.iconPath = vscode.Uri.joinPath(parts.extensionUri, 'media', 'icon.png');
  return participant;
}

async function answer(
  parts: KimiParticipantParts,
  request: vscode.ChatRequest,
  context: vscode.ChatContext,
  stream: vscode.ChatResponseStream,
  token: vscode.CancellationToken,
): Promise<vscode.ChatResult> {
  const { systemPrompt } = parts.settings.config;
  const messages: ChatMessage[] = [...(systemPrompt ? [{ role: 'system' as const, content: systemPrompt }] : []), ...history(context)];
  if (request.command === 'count') {
    if (request.prompt.trim()) messages.push({ role: 'user', content: request.prompt });
    const counted = await parts.pipeline.countChat({ messages, tools: [] });
    stream.markdown(chatCount(counted.estimate.tokens, messages.length, counted.maxOutputTokens, counted.maxCostUsd));
    return { metadata: { command: 'count', tokens: counted.estimate.tokens } };
  }
  messages.push({ role: 'user', content: request.prompt });
  try {
    const {
      result,
      request: counted,
      waitedMs,
    } = await budgetedChat(parts, { messages, tools: [] }, `@kimi: ${firstLine(request.prompt)}`, token, {
      counted: (c) => stream.progress(`Kimi: ${chatEstimate(c.estimate.tokens, c.maxOutputTokens, c.maxCostUsd)}`),
      waiting: (message) => stream.progress(message),
      content: (delta) => stream.markdown(delta),
    });
    const { usage } = result;
    // The estimate (shown as progress while it was counted and while it waited) stays under the answer.
    const estimate = chatEstimate(counted.estimate.tokens, counted.maxOutputTokens, counted.maxCostUsd);
    const served = usage && chatAnswered(usage.promptTokens, usage.completionTokens, parts.pipeline.costOf(result.model, usage), waitedMs);
    stream.markdown(`${FOOTER}*Estimated ${estimate}${served ? `; counted ${served}` : ''}.*`);
    return { metadata: { promptTokens: usage?.promptTokens, waitedMs } };
  } catch (error) {
    if (error instanceof vscode.CancellationError) return {};
    return { errorDetails: { message: (error as Error).message } };
  }
}

/** The earlier turns with @kimi: the prompts, and the answers without their footer. */
function history(context: vscode.ChatContext): ChatMessage[] {
  return context.history.flatMap((turn): ChatMessage[] => {
    if (turn instanceof vscode.ChatRequestTurn) return turn.command === 'count' ? [] : [{ role: 'user', content: turn.prompt }];
    if (turn.result.metadata?.command === 'count' || turn.result.errorDetails) return [];
    const text = turn.response
      .map((part) => (part instanceof vscode.ChatResponseMarkdownPart ? part.value.value : ''))
      .join('')
      .split(FOOTER)[0];
    return text ? [{ role: 'assistant', content: text }] : [];
  });
}
