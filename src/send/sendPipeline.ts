import { Conversation, Exchange, fitContext, requestMessages, summaryRequest } from '../core/conversation';
import type { Config } from '../core/config';
import type { AnswerRecord } from '../core/answerStats';
import { actualCost, maxCost, priceOf } from '../core/cost';
import { Disposable, Emitter, Event } from '../core/event';
import { SendQueue } from '../core/sendQueue';
import { ChatMessage, ChatResult, KimiClient, ToolCall, ToolDefinition, Usage } from '../kimi';
import { contextWindowOf } from '../kimi/models';
import { Calibration } from '../tokens/calibration';
import type { TokenCount } from '../tokens/protocol';
import { estimateRequest, RequestEstimate } from '../tokens/requestEstimate';
import { Conversations } from './conversations';
import { SessionCost } from './sessionCost';

export interface PipelineParts {
  /** The settings in force, read at each step: an edit applies to the next send. */
  readonly config: () => Config;
  readonly apiKey: () => Promise<string | undefined>;
  readonly count: (text: string, signal?: AbortSignal) => Promise<TokenCount>;
  readonly calibration: Calibration;
  readonly queue: SendQueue<ChatResult>;
  readonly conversations: Conversations;
  readonly session: SessionCost;
  /** Wall-clock time for the history (the queue keeps its own clock). */
  readonly now: () => number;
  readonly fetch?: typeof fetch;
}

/** A request counted, priced and checked against the model's context window: ready to send. */
export interface CountedRequest {
  readonly conversation: Conversation;
  readonly prompt: string;
  readonly messages: ChatMessage[];
  readonly estimate: RequestEstimate;
  readonly model: string;
  readonly maxOutputTokens: number;
  /** The most it can cost (every output token used); undefined when the model has no known price. */
  readonly maxCostUsd: number | undefined;
  /** Set when it would overflow the context window and letting go of the oldest exchanges would make it fit. */
  readonly overflow?: { readonly total: number; readonly contextWindow: number; readonly exchanges: number; readonly freesTokens: number };
}

/** What a send tells whoever shows it, as it goes. */
export interface SendObserver {
  /** Attempt `n` was admitted by the budget: a retry starts the answer over. */
  admitted?(attempt: number): void;
  requestLeft?(): void;
  responded?(): void;
  reasoning?(delta: string): void;
  content?(delta: string): void;
  toolCall?(call: ToolCall): void;
}

/** A request made whole by its caller (VS Code's chat): the messages, with tool calls and results, and the tools offered. */
export interface ChatRequestSpec {
  readonly messages: ChatMessage[];
  readonly tools: ToolDefinition[];
  readonly toolChoice?: 'auto' | 'required';
  /** Default: the configured model. */
  readonly model?: string;
  /** Default: the configured kimiBudget.maxOutputTokens. */
  readonly maxOutputTokens?: number;
}

/** A chat request counted as the server will charge it: messages, tool schemas and max_tokens. */
export interface CountedChat {
  readonly spec: ChatRequestSpec;
  readonly estimate: RequestEstimate;
  readonly model: string;
  readonly maxOutputTokens: number;
  /** What the budget is charged at admission: the prompt's estimate plus max_tokens. */
  readonly cost: number;
  readonly maxCostUsd: number | undefined;
}

export interface Answered {
  readonly result: ChatResult;
  /** As kept in the conversation. */
  readonly exchange: Exchange;
  /** Tokens the conversation holds now by the server's count, and the model's context window; undefined without usage. */
  readonly context?: { readonly used: number; readonly window: number | undefined };
}

/** A request in the queue: its id (to cancel it, or to find it among the queue's entries) and its outcome. */
export interface Queued<T> {
  readonly id: number;
  readonly outcome: Promise<T>;
}

/**
 * Everything between what the user asked and the answer in the history, with no editor in sight:
 * count the whole request the server will charge, queue it on the budget, stream it, let the
 * server's count settle the budget and teach the calibration, cost it, keep it. The command
 * palette, the chat and the dashboard all send through here.
 */
export class SendPipeline implements Disposable {
  private client: { readonly baseUrl: string; readonly kimi: KimiClient } | undefined;
  private readonly calibrated = new Emitter<string>();
  /** Fires with the model whose token-count calibration an answer changed. */
  readonly onDidCalibrate: Event<string> = this.calibrated.event;
  private readonly answered = new Emitter<AnswerRecord>();
  /** Fires with the cost and the server's count of each answer that reported its usage. */
  readonly onDidAnswer: Event<AnswerRecord> = this.answered.event;

  /** The context windows the server states (`GET /models`), asked once per base URL (again a minute after a failure). */
  private windows: { baseUrl: string; at: number; byModel: Promise<Map<string, number>>; known?: Map<string, number> } | undefined;

  constructor(private readonly parts: PipelineParts) {}

  /** The model's context window: what the server's model list states, else what this extension knows. */
  private async contextWindowOf(model: string): Promise<number | undefined> {
    const { baseUrl } = this.parts.config();
    const now = this.parts.now();
    if (this.windows?.baseUrl !== baseUrl || (!this.windows.known?.size && now - this.windows.at > 60_000)) {
      const windows: NonNullable<SendPipeline['windows']> = {
        baseUrl,
        at: now,
        byModel: this.clientFor(baseUrl)
          .listModelDetails()
          .then(
            (list) => new Map(list.flatMap((m): [string, number][] => (m.contextWindow ? [[m.id, m.contextWindow]] : []))),
            () => new Map<string, number>(), // no key yet, or the server does not list: the built-in windows meanwhile
          ),
      };
      void windows.byModel.then((known) => (windows.known = known));
      this.windows = windows;
    }
    return (await this.windows.byModel).get(model) ?? contextWindowOf(model);
  }

  /** The same, from what is known now (after a count). */
  private knownContextWindowOf(model: string): number | undefined {
    return this.windows?.known?.get(model) ?? contextWindowOf(model);
  }

  /** Counts `prompt` as the next message of `conversation`, with everything the request carries. */
  async count(conversation: Conversation, prompt: string, signal?: AbortSignal): Promise<CountedRequest> {
    const { model, maxOutputTokens, prices } = this.parts.config();
    const messages = requestMessages(conversation, prompt);
    const [estimate, contextWindow] = await Promise.all([
      estimateRequest((text) => this.parts.count(text, signal), this.parts.calibration, model, messages),
      this.contextWindowOf(model),
    ]);
    const leading = messages.length - 1 - 2 * (conversation.exchanges.length - conversation.firstSent);
    const fit = fitContext(estimate.perMessage, leading, maxOutputTokens, contextWindow);
    const price = priceOf(model, prices);
    const overflow =
      !fit.fits && fit.dropOldest && contextWindow !== undefined ? { total: fit.total, contextWindow, ...fit.dropOldest } : undefined;
    return {
      conversation,
      prompt,
      messages,
      estimate,
      model,
      maxOutputTokens,
      maxCostUsd: price && maxCost(price, estimate.tokens, maxOutputTokens),
      overflow,
    };
  }

  /**
   * Queues a counted request; its outcome is the answer, kept in its conversation. Throws
   * SendRejected at once when it could never go or would wait too long.
   */
  send(request: CountedRequest, label: string, observer: SendObserver = {}): Queued<Answered> {
    let attempts = 0;
    const queued = this.enqueue(request.messages, request.model, request.maxOutputTokens, request.estimate.tokens, label, {
      ...observer,
      admitted: (attempt) => {
        attempts = attempt;
        observer.admitted?.(attempt);
      },
    });
    return { id: queued.id, outcome: queued.outcome.then((result) => this.record(request, result, attempts)) };
  }

  /**
   * One budgeted request that summarises the oldest `count` exchanges still sent in `conversation`;
   * its outcome is the summary (undefined when the answer was empty). The caller lets them go.
   */
  async summarise(conversation: Conversation, count: number, label: string, signal?: AbortSignal): Promise<Queued<string | undefined>> {
    const { model, maxOutputTokens } = this.parts.config();
    const messages = summaryRequest(conversation, count);
    const estimate = await estimateRequest((text) => this.parts.count(text, signal), this.parts.calibration, model, messages);
    const queued = this.enqueue(messages, model, maxOutputTokens, estimate.tokens, label, {});
    return { id: queued.id, outcome: queued.outcome.then((result) => result.content.trim() || undefined) };
  }

  /** Counts a chat request whole: every message, the tool calls and results it carries, and the tool schemas it offers. */
  async countChat(spec: ChatRequestSpec, signal?: AbortSignal): Promise<CountedChat> {
    const config = this.parts.config();
    const model = spec.model ?? config.model;
    const maxOutputTokens = spec.maxOutputTokens ?? config.maxOutputTokens;
    const count = (text: string) => this.parts.count(text, signal);
    const estimate = await estimateRequest(count, this.parts.calibration, model, spec.messages, spec.tools);
    const price = priceOf(model, config.prices);
    return {
      spec,
      estimate,
      model,
      maxOutputTokens,
      cost: estimate.tokens + maxOutputTokens,
      maxCostUsd: price && maxCost(price, estimate.tokens, maxOutputTokens),
    };
  }

  /**
   * Queues a counted chat request on the same budget and line as every other send; its outcome is
   * the answer (text and tool calls). The server's count settles the budget and teaches the
   * calibration; the cost joins the session's. Throws SendRejected at once when it could never go.
   */
  sendChat(request: CountedChat, label: string, observer: SendObserver = {}): Queued<ChatResult> {
    const { spec, model, maxOutputTokens, estimate } = request;
    const queued = this.enqueue(spec.messages, model, maxOutputTokens, estimate.tokens, label, observer, spec.tools, spec.toolChoice);
    const outcome = queued.outcome.then((result) => {
      const { usage } = result;
      if (usage) {
        this.parts.calibration.record(model, estimate.contentTokens, estimate.parts, usage.promptTokens);
        this.calibrated.fire(model);
        this.parts.session.add(this.costOf(result.model, usage));
      }
      return result;
    });
    return { id: queued.id, outcome };
  }

  cancel(id: number): boolean {
    return this.parts.queue.cancel(id);
  }

  /** What an answer cost by the configured prices; undefined for a model with no known price. */
  costOf(model: string, usage: Usage): number | undefined {
    const price = priceOf(model, this.parts.config().prices);
    return price && actualCost(price, usage);
  }

  /** The ids of the models the server offers this account. */
  models(): Promise<string[]> {
    return this.clientFor(this.parts.config().baseUrl).listModels();
  }

  /** The models the server offers this account, with the context window it states or this extension knows. */
  async modelDetails(signal?: AbortSignal): Promise<{ id: string; contextWindow?: number }[]> {
    const listed = await this.clientFor(this.parts.config().baseUrl).listModelDetails(signal);
    return listed.map(({ id, contextWindow }) => ({ id, contextWindow: contextWindow ?? contextWindowOf(id) }));
  }

  dispose(): void {
    this.calibrated.dispose();
    this.answered.dispose();
  }

  private enqueue(
    messages: ChatMessage[],
    model: string,
    maxTokens: number,
    promptTokens: number,
    label: string,
    observer: SendObserver,
    tools?: ToolDefinition[],
    toolChoice?: 'auto' | 'required',
  ): Queued<ChatResult> {
    const { baseUrl, temperature, topP } = this.parts.config();
    const client = this.clientFor(baseUrl);
    const ticket = this.parts.queue.enqueue({
      label,
      promptTokens,
      maxTokens,
      contextWindow: this.knownContextWindowOf(model),
      run: async ({ signal, number, sending, serverAnswered }) => {
        observer.admitted?.(number);
        const result = await client.streamChat(
          { model, messages, maxTokens, temperature, topP, tools, toolChoice },
          {
            onRequest: () => (sending(), observer.requestLeft?.()),
            onResponse: (status) => (serverAnswered(status >= 200 && status < 300), observer.responded?.()),
            onReasoning: observer.reasoning && ((delta) => observer.reasoning?.(delta)),
            onContent: observer.content && ((delta) => observer.content?.(delta)),
            onToolCall: observer.toolCall && ((call) => observer.toolCall?.(call)),
          },
          signal,
        );
        return { value: result, promptTokens: result.usage?.promptTokens };
      },
    });
    return { id: ticket.id, outcome: ticket.result };
  }

  /** Learns from the server's count, costs the answer and keeps it in its conversation. */
  private record(request: CountedRequest, result: ChatResult, attempts: number): Answered {
    const { usage, model, finishReason } = result;
    const price = priceOf(model, this.parts.config().prices);
    const costUsd = usage && price ? actualCost(price, usage) : undefined;
    if (usage) {
      this.parts.calibration.record(model, request.estimate.contentTokens, request.messages.length, usage.promptTokens);
      this.calibrated.fire(model);
      this.parts.session.add(costUsd);
      this.answered.fire({
        at: this.parts.now(),
        model,
        costUsd,
        estimatedTokens: request.estimate.tokens,
        serverTokens: usage.promptTokens,
      });
    }
    const exchange: Exchange = {
      prompt: request.prompt,
      answer: result.content,
      reasoning: result.reasoning,
      at: this.parts.now(),
      model,
      finishReason,
      costUsd,
      attempts,
      usage: usage && { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, cachedTokens: usage.cachedTokens },
    };
    this.parts.conversations.add(request.conversation, exchange);
    return {
      result,
      exchange,
      context: usage && { used: usage.promptTokens + usage.completionTokens, window: this.knownContextWindowOf(model) },
    };
  }

  /** One client per base URL: a new one when the setting changes. */
  private clientFor(baseUrl: string): KimiClient {
    if (this.client?.baseUrl !== baseUrl)
      this.client = { baseUrl, kimi: new KimiClient({ baseUrl, apiKey: this.parts.apiKey, fetch: this.parts.fetch }) };
    return this.client.kimi;
  }
}
