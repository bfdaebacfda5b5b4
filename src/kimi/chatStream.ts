/** Reads a chat completion response (SSE chunks, or a plain JSON completion) into a ChatResult. */
import { createParser } from 'eventsource-parser';
import { bodyChunks, readText, type BodyIO } from './body';
import { KimiError, errorFromResponse } from './kimiError';
import { InlineToolCallParser, ToolCallAssembler } from './toolCalls';
import type { ChatResult, StreamHandlers, ToolCall, Usage } from './types';
import type { WireChunk, WireCompletion, WireUsage } from './wire';
import { isObject } from './json';

/** A handler (the caller's code) threw: not a Moonshot failure, so it is rethrown untouched. */
export class HandlerFailure {
  constructor(readonly error: unknown) {}
}

/** The answer so far; the client reads it when a failure needs `partial`. */
export class ChatAccumulator {
  content = '';
  reasoning = '';
  usage?: Usage;
  finishReason?: string;
  model: string;
  readonly toolCalls: ToolCall[] = [];
  /** Tool calls streamed as deltas, and Kimi's inline tool-call markup in the text. */
  readonly deltas = new ToolCallAssembler();
  readonly inline: InlineToolCallParser;
  /** The names of the tools the request offered: a call of any other is never handed on. */
  readonly offered: ReadonlySet<string>;

  constructor(
    model: string,
    readonly maxTokens: number,
    offered: readonly string[] = [],
  ) {
    this.model = model;
    this.offered = new Set(offered);
    this.inline = new InlineToolCallParser(this.offered);
  }

  get started(): boolean {
    return this.content !== '' || this.reasoning !== '' || this.toolCalls.length > 0;
  }

  snapshot(): ChatResult {
    const { content, reasoning, usage, finishReason, model } = this;
    return { content, reasoning, usage, finishReason, model, toolCalls: [...this.toolCalls] };
  }
}

/**
 * The most characters (reasoning and content together) an answer may have for its max_tokens. A
 * token is 3–4 characters of English and fewer of Chinese (Moonshot's rule of thumb); the longest
 * tokens of a BPE vocabulary, runs of spaces or of one symbol, are a few dozen characters, and no
 * answer a model writes is made of them throughout. 16 a token is four times the usual ratio; the
 * margin covers a small max_tokens whose few tokens are long ones.
 */
export function answerLimit(maxTokens: number): number {
  return 16 * maxTokens + 4_096;
}

/** Moonshot's stream events are a few hundred bytes; a line or an event that never ends must not fill the memory. */
const MAX_EVENT_CHARS = 1 << 20;

export async function readChatBody(response: Response, acc: ChatAccumulator, handlers: StreamHandlers, io: BodyIO): Promise<ChatResult> {
  if ((response.headers.get('content-type') ?? '').includes('json')) {
    // At most 6 bytes a character of the answer (a \uXXXX escape), and 64 KiB for the rest of the object.
    const { text, cut } = await readText(response, io, 6 * answerLimit(acc.maxTokens) + 65_536);
    if (cut) throw answerTooLarge(acc.maxTokens);
    return applyCompletion(text, acc, handlers, io);
  }
  const events: string[] = [];
  let sinceEvent = 0; // characters fed since the last whole event: what the parser may be holding
  const parser = createParser({
    onEvent: (event) => {
      events.push(event.data);
      sinceEvent = 0;
    },
  });
  const decoder = new TextDecoder();
  let raw = ''; // the body while no event came, in case it is a JSON completion without its content type
  let sawEvent = false;
  let sawDone = false;
  let lastChar = '';

  // Returns true at [DONE]; handlers run here, outside the parser's callback.
  const drain = (lastLineCut = false): boolean => {
    for (const data of events.splice(0)) {
      if (lastLineCut && data.trim() !== '[DONE]' && parseJson(data) === undefined) continue; // the connection broke mid-event
      sawEvent = true;
      if (applyEvent(data, acc, handlers, io)) return true;
    }
    return false;
  };

  for await (const chunk of bodyChunks(response, io)) {
    const text = decoder.decode(chunk, { stream: true });
    lastChar = text.slice(-1) || lastChar;
    if (!sawEvent) raw += text; // no more than MAX_EVENT_CHARS: no event came
    parser.feed(text);
    sawDone = drain();
    if (sawDone) break; // after [DONE] nothing else is wanted
    if ((sinceEvent += text.length) > MAX_EVENT_CHARS) {
      throw new KimiError({
        kind: 'server',
        message: 'Moonshot sent more than 1 MiB without ending a stream event, so the stream was abandoned.',
      });
    }
  }

  if (!sawDone) {
    // The body ended: so do its last line (a held-back CR, no newline) and its last event (no blank line).
    const rest = decoder.decode();
    const cut = !/[\r\n]/.test(rest.slice(-1) || lastChar);
    parser.feed(`${rest}\n\n`);
    sawDone = drain(cut);
  }
  if (!sawEvent && raw.trim().startsWith('{')) return applyCompletion(raw, acc, handlers, io);
  if (sawDone || acc.finishReason) return finish(acc, handlers);
  throw new KimiError({
    kind: 'network',
    message: 'The connection to Moonshot closed before the answer finished (no finish reason, no [DONE]).',
  });
}

function applyEvent(data: string, acc: ChatAccumulator, handlers: StreamHandlers, io: BodyIO): boolean {
  if (data.trim() === '[DONE]') return true;
  const chunk = parseJson(data);
  if (!isObject(chunk) || Array.isArray(chunk)) {
    throw new KimiError({
      kind: 'server',
      message: `Moonshot sent a malformed stream event (not a JSON object): "${data.slice(0, 120)}".`,
    });
  }
  if (isObject(chunk.error)) throw errorFromResponse(undefined, data, undefined, io.now()); // failed mid-stream
  const wire = chunk as Partial<WireChunk>;
  if (typeof wire.model === 'string') acc.model = wire.model;
  for (const choice of Array.isArray(wire.choices) ? wire.choices : []) {
    const delta = isObject(choice?.delta) ? choice.delta : {};
    if (typeof delta.reasoning_content === 'string') append(acc, 'reasoning', delta.reasoning_content, handlers.onReasoning);
    if (typeof delta.content === 'string') appendContent(acc, delta.content, handlers);
    if (Array.isArray(delta.tool_calls)) for (const call of acc.deltas.push(delta.tool_calls)) toolCall(acc, call, handlers);
    if (typeof choice?.finish_reason === 'string') acc.finishReason = choice.finish_reason;
    acc.usage = toUsage(choice?.usage) ?? acc.usage;
  }
  acc.usage = toUsage(wire.usage) ?? acc.usage;
  return false;
}

/** A whole `chat.completion` object where a stream was expected: take it as one big delta. */
function applyCompletion(text: string, acc: ChatAccumulator, handlers: StreamHandlers, io: BodyIO): ChatResult {
  const body = parseJson(text);
  if (isObject(body) && isObject(body.error)) throw errorFromResponse(undefined, text, undefined, io.now());
  const wire = body as Partial<WireCompletion> | undefined;
  const choice = isObject(wire) && Array.isArray(wire.choices) ? wire.choices[0] : undefined;
  if (!isObject(choice)) {
    throw new KimiError({ kind: 'server', message: `Moonshot answered with an unexpected body: "${text.slice(0, 120)}".` });
  }
  const reasoning = choice.message?.reasoning_content;
  const content = choice.message?.content;
  if (typeof reasoning === 'string') append(acc, 'reasoning', reasoning, handlers.onReasoning);
  if (typeof content === 'string') appendContent(acc, content, handlers);
  const calls = choice.message?.tool_calls;
  if (Array.isArray(calls)) {
    const whole = calls.map((call, index) => ({ ...call, index }));
    for (const call of acc.deltas.push(whole)) toolCall(acc, call, handlers);
  }
  if (typeof wire?.model === 'string') acc.model = wire.model;
  if (typeof choice.finish_reason === 'string') acc.finishReason = choice.finish_reason;
  acc.usage = toUsage(wire?.usage) ?? toUsage(choice.usage) ?? acc.usage;
  return finish(acc, handlers);
}

/** The answer is whole: text held back as a possible start of markup is text, and open tool calls are complete. */
function finish(acc: ChatAccumulator, handlers: StreamHandlers): ChatResult {
  const rest = acc.inline.end();
  if (rest.text) append(acc, 'content', rest.text, handlers.onContent);
  for (const call of [...rest.calls, ...acc.deltas.end()]) toolCall(acc, call, handlers);
  return acc.snapshot();
}

/** Content goes through the inline markup parser: calls are taken out, the rest is the answer's text. */
function appendContent(acc: ChatAccumulator, delta: string, handlers: StreamHandlers): void {
  const { text, calls } = acc.inline.push(delta);
  if (text) append(acc, 'content', text, handlers.onContent);
  for (const call of calls) toolCall(acc, call, handlers);
}

function toolCall(acc: ChatAccumulator, call: ToolCall, handlers: StreamHandlers): void {
  // A call of a tool the request did not offer (or of any tool, when it offered none) is not made.
  if (!acc.offered.has(call.name)) return;
  acc.toolCalls.push(call);
  try {
    handlers.onToolCall?.(call);
  } catch (error) {
    throw new HandlerFailure(error);
  }
}

export function toUsage(wire: WireUsage | null | undefined): Usage | undefined {
  if (!isObject(wire) || (typeof wire.prompt_tokens !== 'number' && typeof wire.completion_tokens !== 'number')) return undefined;
  const promptTokens = num(wire.prompt_tokens);
  const completionTokens = num(wire.completion_tokens);
  const usage: Usage = { promptTokens, completionTokens, totalTokens: num(wire.total_tokens, promptTokens + completionTokens) };
  const cached = wire.cached_tokens ?? wire.prompt_tokens_details?.cached_tokens;
  if (typeof cached === 'number') usage.cachedTokens = cached;
  return usage;
}

/** Adds a delta to the answer and hands it on; past what max_tokens allows, only the part that fits, then fails. */
function append(acc: ChatAccumulator, part: 'reasoning' | 'content', delta: string, handler: ((delta: string) => void) | undefined): void {
  const kept = delta.slice(0, answerLimit(acc.maxTokens) - acc.reasoning.length - acc.content.length);
  if (kept) {
    acc[part] += kept;
    call(handler, kept);
  }
  if (kept.length < delta.length) throw answerTooLarge(acc.maxTokens);
}

function answerTooLarge(maxTokens: number): KimiError {
  return new KimiError({
    kind: 'server',
    message: `Moonshot's answer was larger than its max_tokens (${maxTokens}) allow, more than ${answerLimit(maxTokens)} characters, so the rest was not read.`,
  });
}

function call(handler: ((delta: string) => void) | undefined, delta: string): void {
  try {
    handler?.(delta);
  } catch (error) {
    throw new HandlerFailure(error);
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function num(value: unknown, fallback = 0): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : fallback;
}
