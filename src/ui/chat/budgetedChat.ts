// One chat request through the budget, as VS Code's chat and @kimi make it: counted whole, queued in
// the same line as every other send, told when it waits (and why, and for how long), cancelled with
// the chat's token, and its failures put into words.
import * as vscode from 'vscode';
import { SendQueue, SendRejected } from '../../core/sendQueue';
import { ChatResult, KimiError, ToolCall } from '../../kimi';
import { ChatRequestSpec, CountedChat, SendPipeline } from '../../send/sendPipeline';
import { describeFailure } from '../failure';
import { chatWaiting } from '../words';

export interface BudgetedChatParts {
  readonly pipeline: SendPipeline;
  readonly queue: SendQueue<ChatResult>;
  readonly context: () => { model: string; baseUrl: string };
}

export interface ChatHooks {
  /** The request was counted: what it will be charged. */
  counted?(request: CountedChat): void;
  /** It waits for the budget; `message` says why and for how long. Called again when that changes. */
  waiting?(message: string, waitMs: number | undefined): void;
  content?(delta: string): void;
  toolCall?(call: ToolCall): void;
}

/** Counts, queues and streams one chat request; rejects with a worded Error (cancelled: a CancellationError). */
export async function budgetedChat(
  parts: BudgetedChatParts,
  spec: ChatRequestSpec,
  label: string,
  token: vscode.CancellationToken,
  hooks: ChatHooks = {},
): Promise<{ result: ChatResult; request: CountedChat; waitedMs: number }> {
  const abort = new AbortController();
  const cancelled = token.onCancellationRequested(() => abort.abort());
  let watch: NodeJS.Timeout | undefined;
  let leave: vscode.Disposable | undefined;
  const started = Date.now();
  let admittedAt: number | undefined;
  try {
    const request = await parts.pipeline.countChat(spec, abort.signal);
    if (token.isCancellationRequested) throw new vscode.CancellationError();
    hooks.counted?.(request);
    const queued = parts.pipeline.sendChat(request, label, {
      admitted: () => (admittedAt ??= Date.now()),
      content: hooks.content,
      toolCall: hooks.toolCall,
    });
    // A cancel takes it out of the line, or aborts its stream.
    leave = token.onCancellationRequested(() => parts.pipeline.cancel(queued.id));
    let told = '';
    const tell = (first = false) => {
      const entry = parts.queue.entries().find((e) => e.id === queued.id);
      if (!entry || entry.state !== 'waiting') return;
      // Behind a running send (its answer not begun, or every slot taken), a wait is usually short:
      // said only if it lasts past the first second, so that a moment's wait shows nothing.
      if (first && entry.eta === undefined) return;
      const waitMs = entry.eta === undefined ? undefined : entry.eta - Date.now();
      const message = chatWaiting(waitMs, parts.queue.headHeldBy);
      // Said again only when the reason changes or the wait moves by more than ten seconds.
      const key = `${parts.queue.headHeldBy}:${waitMs === undefined ? '-' : Math.round(waitMs / 10_000)}`;
      if (key !== told) {
        told = key;
        hooks.waiting?.(message, waitMs);
      }
    };
    tell(true);
    watch = setInterval(tell, 1000);
    const result = await queued.outcome;
    return { result, request, waitedMs: (admittedAt ?? Date.now()) - started };
  } catch (error) {
    if (token.isCancellationRequested || (error instanceof SendRejected && error.reason === 'cancelled'))
      throw new vscode.CancellationError();
    if (error instanceof SendRejected || error instanceof KimiError) {
      throw new Error(describeFailure(error, { ...parts.context(), attempts: 1 }).message, { cause: error });
    }
    throw error;
  } finally {
    if (watch) clearInterval(watch);
    leave?.dispose();
    cancelled.dispose();
  }
}

/** The first line of a prompt, short enough for the queue's list. */
export function firstLine(text: string): string {
  const line = text.trim().split('\n')[0].trim();
  return line.length > 40 ? `${line.slice(0, 39)}…` : line || 'prompt';
}
