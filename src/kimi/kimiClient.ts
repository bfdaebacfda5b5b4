/**
 * Moonshot's HTTP API: streamed chat, the model list and token estimates. It never retries on its
 * own: every retry must pass through the budget engine, which owns the account's limits.
 */
import { readText, type BodyIO } from './body';
import { ChatAccumulator, HandlerFailure, readChatBody } from './chatStream';
import { KimiError, cancelledError, errorFromResponse, networkError, redact, redactKey } from './kimiError';
import type { ChatMessage, ChatRequest, ChatResult, StreamHandlers, ToolDefinition } from './types';
import type { ChatCompletionMessageParam, ChatCompletionTool } from 'openai/resources/chat/completions';
import { isObject } from './json';
import { kimiCodeProblem } from './kimiCode';

export interface KimiClientOptions {
  /** e.g. https://api.moonshot.ai/v1; a trailing slash is tolerated. */
  baseUrl: string;
  /** Asked per request, so a key set mid-session is used at once. */
  apiKey: () => Promise<string | undefined>;
  fetch?: typeof fetch;
  /** A request or stream that sends nothing for this long fails as 'network' (default 60000). */
  idleTimeoutMs?: number;
  /** A request whose answer has not ended this long after it began fails as 'network', however steadily it streams (default 30 min). */
  deadlineMs?: number;
  /** For HTTP-date Retry-After values; default Date.now. */
  now?: () => number;
  /** Told each request (its Authorization header redacted) and how it ended; never the key. */
  log?: (line: string) => void;
}

interface Exchange {
  method: 'GET' | 'POST';
  path: string;
  body?: unknown;
  signal?: AbortSignal;
  /** The answer so far, for `streamed`/`partial` when a chat fails midway. */
  acc?: ChatAccumulator;
  onRequest?: () => void;
  onResponse?: (status: number) => void;
}

/** Why the client gave up waiting: the server went quiet, or the whole request took too long. */
type Expiry = 'idle' | 'deadline';

type Consume<T> = (response: Response, io: BodyIO) => Promise<T>;

/** Moonshot's error bodies, model list and estimates are a few KB (a proxy's error page tens): more is not read. */
const SMALL_BODY_BYTES = 1 << 20;

export class KimiClient {
  private readonly baseUrl: string;
  private readonly fetchImpl: typeof fetch;
  private readonly idleTimeoutMs: number;
  private readonly deadlineMs: number;
  private readonly now: () => number;

  constructor(private readonly options: KimiClientOptions) {
    this.baseUrl = options.baseUrl.trim().replace(/\/+$/, '');
    this.fetchImpl = options.fetch ?? ((input, init) => globalThis.fetch(input, init)); // late-bound global
    this.idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
    this.deadlineMs = options.deadlineMs ?? 30 * 60_000;
    this.now = options.now ?? Date.now;
  }

  streamChat(request: ChatRequest, handlers: StreamHandlers, signal?: AbortSignal): Promise<ChatResult> {
    if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) {
      // Without a valid max_tokens Moonshot would charge its own large default to TPM.
      return Promise.reject(
        new KimiError({ kind: 'badRequest', message: `maxTokens must be a positive integer (got ${request.maxTokens}).` }),
      );
    }
    const acc = new ChatAccumulator(
      request.model,
      request.maxTokens,
      (request.tools ?? []).map((tool) => tool.name),
    );
    const body = {
      model: request.model,
      messages: request.messages.map(wireMessage),
      max_tokens: request.maxTokens,
      ...(request.temperature === undefined ? {} : { temperature: request.temperature }),
      ...(request.topP === undefined ? {} : { top_p: request.topP }),
      ...(request.tools?.length ? { tools: request.tools.map(wireTool), tool_choice: request.toolChoice ?? 'auto' } : {}),
      stream: true,
    };
    return this.exchange(
      { method: 'POST', path: '/chat/completions', body, signal, acc, onRequest: handlers.onRequest, onResponse: handlers.onResponse },
      (response, io) => readChatBody(response, acc, handlers, io),
    );
  }

  /** GET {base}/models: the ids of the models this account can use. */
  async listModels(signal?: AbortSignal): Promise<string[]> {
    return (await this.listModelDetails(signal)).map((model) => model.id);
  }

  /** GET {base}/models: the models this account can use, with the context window the server states. */
  listModelDetails(signal?: AbortSignal): Promise<{ id: string; contextWindow?: number }[]> {
    return this.exchange({ method: 'GET', path: '/models', signal }, async (response, io) => {
      const body = await readJson(response, io, '/models');
      const data = isObject(body) && Array.isArray(body.data) ? body.data : undefined;
      if (!data) throw unexpectedBody('/models', body);
      return data.flatMap((model) => {
        if (!isObject(model) || typeof model.id !== 'string') return [];
        const length = model.context_length;
        return [
          { id: model.id, ...(typeof length === 'number' && Number.isInteger(length) && length > 0 ? { contextWindow: length } : {}) },
        ];
      });
    });
  }

  /** POST {base}/tokenizers/estimate-token-count: the server's own count for a prompt. */
  estimateTokens(model: string, messages: ChatMessage[], signal?: AbortSignal): Promise<number> {
    const path = '/tokenizers/estimate-token-count';
    return this.exchange({ method: 'POST', path, body: { model, messages }, signal }, async (response, io) => {
      const body = await readJson(response, io, path);
      const total = isObject(body) && isObject(body.data) ? body.data.total_tokens : undefined;
      if (typeof total !== 'number') throw unexpectedBody(path, body);
      return total;
    });
  }

  private async exchange<T>(exchange: Exchange, consume: Consume<T>): Promise<T> {
    if (exchange.signal?.aborted) throw cancelledError();
    let key: string | undefined;
    try {
      key = await this.options.apiKey();
      if (!key) {
        throw new KimiError({
          kind: 'unauthorized',
          message: 'No Moonshot API key is set, so nothing was sent. Set a key (Kimi: Set API Key) and try again.',
        });
      }
      const problem = apiKeyProblem(key);
      if (problem) {
        throw new KimiError({
          kind: 'unauthorized',
          message: `${problem} Nothing was sent. Set the key again (Kimi: Set API Key), pasting only the key, or correct MOONSHOT_API_KEY.`,
        });
      }
      const kimiCode = kimiCodeProblem(this.baseUrl, key);
      if (kimiCode) throw new KimiError({ kind: 'forbidden', message: kimiCode });
      if (exchange.signal?.aborted) throw cancelledError();
      const started = Date.now();
      const result = await this.send(exchange, key, consume);
      this.log(`${exchange.method} ${exchange.path} answered in ${Date.now() - started} ms`, key);
      return result;
    } catch (error) {
      if (error instanceof HandlerFailure) throw error.error; // the caller's own handler threw
      if (!(error instanceof KimiError)) throw error;
      const safe = redactKey(error, key);
      this.log(
        `${exchange.method} ${exchange.path} failed (${safe.kind}${safe.status ? `, HTTP ${safe.status}` : ''}): ${safe.message}`,
        key,
      );
      throw safe;
    }
  }

  /** The key is cut from every line, whatever put it there. */
  private log(line: string, key: string | undefined): void {
    this.options.log?.(redact(line, key));
  }

  /** One HTTP exchange: cancellation, the idle timer and the deadline cover the headers and the whole body. */
  private async send<T>(
    { method, path, body, signal, acc, onRequest, onResponse }: Exchange,
    key: string,
    consume: Consume<T>,
  ): Promise<T> {
    const controller = new AbortController();
    let expired: Expiry | undefined;
    const expire = (why: Expiry) => (): void => {
      expired ??= why;
      controller.abort();
    };
    let idle: ReturnType<typeof setTimeout> | undefined;
    const touch = (): void => {
      clearTimeout(idle);
      idle = setTimeout(expire('idle'), this.idleTimeoutMs);
    };
    const deadline = setTimeout(expire('deadline'), this.deadlineMs);
    const stop = (): void => controller.abort();
    signal?.addEventListener('abort', stop, { once: true });
    // Every await races this, so a fetch implementation that ignores the signal cannot hang us.
    const aborted = new Promise<never>((_, reject) =>
      controller.signal.addEventListener('abort', () => reject(new Error('aborted')), { once: true }),
    );
    aborted.catch(() => undefined);
    const io: BodyIO = { touch, race: (promise) => Promise.race([promise, aborted]), now: this.now };

    try {
      touch();
      const headers: Record<string, string> = { Authorization: `Bearer ${key}`, Accept: 'text/event-stream, application/json' };
      if (body !== undefined) headers['Content-Type'] = 'application/json';
      this.log(requestLine(method, this.baseUrl + path, headers), key);
      // Followed, a redirect would re-send the prompt to wherever the server points, even over plain http.
      const init: RequestInit = {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
        redirect: 'manual',
      };
      onRequest?.();
      const response = await io.race(this.fetchImpl(this.baseUrl + path, init));
      touch();
      onResponse?.(response.status);
      if (response.status >= 300 && response.status < 400) throw redirectError(response, this.baseUrl + path);
      if (!response.ok) {
        // The start of a longer body says as much; the rest is never read (finally drops the connection).
        const { text } = await readText(response, io, SMALL_BODY_BYTES).catch((error: unknown) => {
          if (controller.signal.aborted) throw error;
          return { text: '' }; // the status alone still says what went wrong
        });
        // Scrubbed before it is quoted: a quote cut in the middle of the key would keep its first characters.
        throw errorFromResponse(response.status, redact(text, key), response.headers, this.now());
      }
      return await consume(response, io);
    } catch (error) {
      throw this.translate(error, signal, expired, acc);
    } finally {
      clearTimeout(idle);
      clearTimeout(deadline);
      signal?.removeEventListener('abort', stop);
      controller.abort(); // frees the connection when the body was not read to its end
    }
  }

  private translate(error: unknown, signal: AbortSignal | undefined, expired: Expiry | undefined, acc?: ChatAccumulator): unknown {
    if (error instanceof HandlerFailure) return error;
    const streamed = acc?.started ?? false;
    const progress = streamed && acc ? { streamed: true, partial: acc.snapshot() } : {};
    if (signal?.aborted) return cancelledError().with(progress);
    if (expired === 'deadline') {
      const message = `Moonshot's answer had not ended after ${duration(this.deadlineMs)}, the longest a request may take, so it was abandoned.`;
      return new KimiError({ kind: 'network', message, ...progress });
    }
    if (expired === 'idle') {
      const seconds = this.idleTimeoutMs / 1000;
      const message = streamed
        ? `The answer stalled: Moonshot sent nothing for ${seconds} s, so the stream was abandoned.`
        : `Moonshot did not answer within ${seconds} s, so the request was abandoned.`;
      return new KimiError({ kind: 'network', message, ...progress });
    }
    if (error instanceof KimiError) return streamed ? error.with(progress) : error;
    return networkError(error, hostOf(this.baseUrl), streamed).with(progress);
  }
}

async function readJson(response: Response, io: BodyIO, path: string): Promise<unknown> {
  const { text, cut } = await readText(response, io, SMALL_BODY_BYTES);
  if (cut) {
    throw new KimiError({
      kind: 'server',
      message: `Moonshot answered ${path} with more than 1 MiB, where a few KB are expected; the rest was not read.`,
    });
  }
  try {
    return JSON.parse(text);
  } catch {
    throw unexpectedBody(path, text);
  }
}

function unexpectedBody(path: string, body: unknown): KimiError {
  const shown = (typeof body === 'string' ? body : (JSON.stringify(body) ?? '')).slice(0, 120);
  return new KimiError({ kind: 'server', message: `Moonshot answered ${path} with an unexpected body: ${shown}` });
}

/**
 * Why this key cannot be sent, in words that never show it; undefined for a usable key. A Moonshot
 * key is printable ASCII without spaces: anything else (a line break from a two-line file, a space,
 * a letter outside ASCII) breaks the Authorization header or cannot be a key.
 */
export function apiKeyProblem(key: string): string | undefined {
  const found = /[^\x21-\x7e]/.exec(key);
  if (!found) return undefined;
  const char = found[0];
  const what =
    char === '\n' || char === '\r'
      ? 'a line break'
      : char === ' ' || char === '\t'
        ? 'a space or a tab'
        : char < ' ' || char === '\x7f'
          ? 'a control character'
          : 'a character that is not printable ASCII';
  return `The API key has ${what} at character ${found.index + 1}; a Moonshot key is printable ASCII without spaces.`;
}

function redirectError(response: Response, url: string): KimiError {
  const location = response.headers.get('location');
  let target = 'an address it did not give';
  if (location) {
    try {
      target = new URL(location, url).href.slice(0, 300);
    } catch {
      target = location.slice(0, 300);
    }
  }
  return new KimiError({
    kind: 'network',
    status: response.status,
    message:
      `${hostOf(url)} answered with a redirect (HTTP ${response.status}) to ${target}; it was not followed, so nothing was sent there. ` +
      "Check kimiBudget.baseUrl: it must be the API's own address (https://api.moonshot.ai/v1, or https://api.moonshot.cn/v1 in China).",
  });
}

/** A request as a log line: the Authorization header keeps its scheme and nothing else. */
function requestLine(method: string, url: string, headers: Record<string, string>): string {
  const redact = (name: string, value: string): string =>
    name.toLowerCase() !== 'authorization' ? value : /^bearer\s/i.test(value) ? 'Bearer [redacted]' : '[redacted]';
  return `${method} ${url} (${Object.entries(headers)
    .map(([name, value]) => `${name}: ${redact(name, value)}`)
    .join(', ')})`;
}

function duration(ms: number): string {
  return ms >= 60_000 ? `${ms / 60_000} min` : `${ms / 1000} s`;
}

function hostOf(baseUrl: string): string {
  try {
    return new URL(baseUrl).host;
  } catch {
    return baseUrl;
  }
}

/** A message as Moonshot's OpenAI-compatible API takes it: tool calls as `tool_calls`, tool answers as `role: tool`. */
export function wireMessage(message: ChatMessage): ChatCompletionMessageParam {
  switch (message.role) {
    case 'tool':
      return { role: 'tool', tool_call_id: message.toolCallId ?? '', content: message.content };
    case 'assistant':
      return message.toolCalls?.length
        ? {
            role: 'assistant',
            content: message.content,
            tool_calls: message.toolCalls.map((call) => ({
              id: call.id,
              type: 'function' as const,
              function: { name: call.name, arguments: JSON.stringify(call.input) },
            })),
          }
        : { role: 'assistant', content: message.content };
    default:
      return { role: message.role, content: message.content };
  }
}

/** A tool as an OpenAI function tool. */
export function wireTool(tool: ToolDefinition): ChatCompletionTool {
  return {
    type: 'function',
    function: {
      name: tool.name,
      description: tool.description,
      parameters: (tool.parameters ?? { type: 'object', properties: {} }) as Record<string, unknown>,
    },
  };
}
