// Kimi K2 as a model of VS Code's own chat (vendor `kimi`): every request the chat makes, tool calls
// included, is counted whole, waits in the same line as the extension's other sends and streams back
// as text and tool-call parts.
import * as vscode from 'vscode';
import { Emitter } from '../../core/event';
import { contextWindowOf } from '../../kimi/models';
import { ChatMessageShape, messageText, toKimiMessages, toKimiTools, toToolCallShape } from '../../send/chatMessages';
import { ApiKey } from '../apiKey';
import { SelectionCounter } from '../selectionCounter';
import { Settings } from '../settings';
import { CHAT_MODEL_DETAIL, chatModelTooltip } from '../words';
import { BudgetedChatParts, budgetedChat, firstLine } from './budgetedChat';
import type {
  LanguageModelChatInformation,
  LanguageModelChatProvider,
  LanguageModelChatRequestMessage,
  LanguageModelResponsePart,
  ProvideLanguageModelChatResponseOptions,
} from './languageModelApi';
import { jsonDataPart } from './languageModelApi';

export const KIMI_VENDOR = 'kimi';
/** The data part a waiting request reports: `{ message, waitMs }`, for callers that show it. */
export const WAIT_MIME = 'application/vnd.kimi-budget.wait+json';
/** A model whose context window neither the server nor this extension knows is taken to hold this much. */
const UNKNOWN_CONTEXT_WINDOW = 131_072;

export interface KimiChatProviderParts extends BudgetedChatParts {
  readonly settings: Settings;
  readonly apiKey: ApiKey;
  readonly counter: SelectionCounter;
}

export class KimiChatProvider implements LanguageModelChatProvider, vscode.Disposable {
  private readonly changed = new Emitter<void>();
  readonly onDidChangeLanguageModelChatInformation: vscode.Event<void> = (listener, thisArg, disposables) => {
    const subscription = this.changed.event(() => listener.call(thisArg));
    disposables?.push(subscription);
    return subscription;
  };

  constructor(private readonly parts: KimiChatProviderParts) {}

  /** The server's model list, asked once (VS Code asks for the models often) until refresh(). */
  private listed: Promise<{ id: string; contextWindow?: number }[]> | undefined;

  /** The model list may have changed: a key set or removed, another model or base URL. */
  refresh(): void {
    this.listed = undefined;
    this.changed.fire();
  }

  async provideLanguageModelChatInformation(
    options: { readonly silent: boolean },
    token: vscode.CancellationToken,
  ): Promise<LanguageModelChatInformation[]> {
    const { apiKey, settings, pipeline } = this.parts;
    let key = await apiKey.get().catch(() => undefined);
    // Silent: no prompt, and no models while no key is set.
    if (!key && !options.silent && (await apiKey.prompt())) key = await apiKey.get().catch(() => undefined);
    if (!key) return [];
    const { model } = settings.config;
    let listed: { id: string; contextWindow?: number }[] = [];
    const asked = (this.listed ??= pipeline.modelDetails());
    let stop: vscode.Disposable | undefined;
    const cancelled = new Promise<undefined>((resolve) => (stop = token.onCancellationRequested(() => resolve(undefined))));
    try {
      listed = (await Promise.race([asked, cancelled])) ?? [];
    } catch {
      // Offline or refused: the configured model alone, and the next query asks again.
      if (this.listed === asked) this.listed = undefined;
    } finally {
      stop?.dispose();
    }
    const windows = new Map(listed.map((m) => [m.id, m.contextWindow]));
    const ids = [model, ...listed.map((m) => m.id).filter((id) => id !== model)];
    return ids.map((id) => this.information(id, windows.get(id) ?? contextWindowOf(id)));
  }

  async provideLanguageModelChatResponse(
    model: LanguageModelChatInformation,
    messages: readonly LanguageModelChatRequestMessage[],
    options: ProvideLanguageModelChatResponseOptions,
    progress: vscode.Progress<LanguageModelResponsePart>,
    token: vscode.CancellationToken,
  ): Promise<void> {
    const tools = toKimiTools(options.tools ?? []);
    const spec = {
      messages: toKimiMessages(messages.map(shape)),
      tools,
      toolChoice: tools.length && options.toolMode === vscode.LanguageModelChatToolMode.Required ? ('required' as const) : undefined,
      model: model.id,
    };
    const last = [...spec.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    await budgetedChat(this.parts, spec, `chat: ${firstLine(last)}`, token, {
      waiting: (message, waitMs) => {
        const part = jsonDataPart({ message, waitMs }, WAIT_MIME);
        if (part) progress.report(part);
      },
      content: (delta) => progress.report(new vscode.LanguageModelTextPart(delta)),
      toolCall: (call) => {
        const { callId, name, input } = toToolCallShape(call);
        progress.report(new vscode.LanguageModelToolCallPart(callId, name, input));
      },
    });
  }

  /** The extension's own count (o200k in the worker, times the calibration for this model). */
  async provideTokenCount(
    model: LanguageModelChatInformation,
    text: string | LanguageModelChatRequestMessage,
    token: vscode.CancellationToken,
  ): Promise<number> {
    const abort = new AbortController();
    const cancel = token.onCancellationRequested(() => abort.abort());
    try {
      const counted = await this.parts.counter.count(typeof text === 'string' ? text : messageText(shape(text)), abort.signal, model.id);
      return counted.tokens;
    } finally {
      cancel.dispose();
    }
  }

  dispose(): void {
    this.changed.dispose();
  }

  private information(id: string, contextWindow: number | undefined): LanguageModelChatInformation {
    const window = contextWindow ?? UNKNOWN_CONTEXT_WINDOW;
    const maxOutputTokens = Math.min(this.parts.settings.config.maxOutputTokens, Math.floor(window / 2));
    return {
      id,
      name: `Kimi ${id}`,
      family: id,
      version: id,
      detail: CHAT_MODEL_DETAIL,
      tooltip: chatModelTooltip(id, window, maxOutputTokens),
      maxInputTokens: window - maxOutputTokens,
      maxOutputTokens,
      capabilities: { toolCalling: true, imageInput: false },
    };
  }
}

/** A request message as the conversion reads it; thinking parts are the model's own and are not sent back. */
function shape(message: LanguageModelChatRequestMessage): ChatMessageShape {
  const Thinking = (vscode as unknown as { LanguageModelThinkingPart?: new (...args: never[]) => unknown }).LanguageModelThinkingPart;
  return { role: message.role, content: Thinking ? message.content.filter((part) => !(part instanceof Thinking)) : message.content };
}
