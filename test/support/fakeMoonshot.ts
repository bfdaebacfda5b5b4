/**
 * A loopback HTTP server that behaves like Moonshot's API where the extension depends on it:
 * rate limits over rolling windows, TPM charged as prompt + max_tokens at admission, Moonshot's
 * 429 bodies and messages, thinking-model streams with usage inside the last choice, and tool
 * calls: offered tools (OpenAI function tools) are called when the last user message names one, as
 * `tool_calls` deltas split across chunks (or as Kimi's inline markup in the text, when asked), and
 * a `role: tool` answer is read back into the reply.
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Tiktoken, type TiktokenBPE } from 'js-tiktoken/lite';
import type { WireChunk, WireCompletion, WireModelList, WireUsage } from '../../src/kimi/wire';

export interface FakeMoonshotOptions {
  /** undefined or 0 = unlimited. */
  rpm?: number;
  tpm?: number;
  concurrency?: number;
  tpd?: number;
  /** Rolling window for RPM/TPM (default 60000); tests use a few hundred ms. */
  windowMs?: number;
  /** Window for TPD (default 86400000). */
  dayMs?: number;
  /** Default 'sk-test-key'. */
  apiKey?: string;
  /** Delay between SSE chunks (default 5). */
  chunkDelayMs?: number;
  /** How many content chunks a full answer has (default 5). */
  answerChunks?: number;
  models?: { id: string; context_length: number }[];
  /** Tool calls as Kimi K2's inline markup in the content, instead of `tool_calls` deltas. */
  inlineToolCalls?: boolean;
  /**
   * Refused requests count against the limits too (their request and their charge), as Moonshot's
   * documentation says retries do: a client that retries blindly keeps its own window full.
   */
  chargeRefused?: boolean;
  /** A project's own lower caps, refused in the words Moonshot uses for them ("project TPM rate limit, …"). */
  project?: { rpm?: number; tpm?: number };
  /**
   * The words of a rate refusal: today's ("organization max RPM: 3", "max organization concurrency: 1",
   * "TPM rate limit, current: X, limit: Y"), or the older ones ("max request: 3", "max concurrency: 1").
   */
  wording?: 'current' | 'older';
  port?: number;
  host?: string;
}

export interface FakeMoonshotStats {
  /** Chat completion requests received, admitted or not. */
  requests: number;
  accepted: number;
  /** Answers sent to the end (finish reason given). */
  completed: number;
  /** Refused chat requests by `error.type` (`http_<status>` for an injected fault without a type). */
  rejected: Record<string, number>;
  chargedTokens: number;
  maxConcurrent: number;
  inFlight: number;
  /** Every HTTP request on any path; lets a test prove that nothing was sent. */
  httpRequests: number;
  /** Responses whose connection the client closed before their end. */
  dropped: number;
}

export interface ReceivedRequest {
  at: number;
  model: string;
  maxTokens: number | undefined;
  messages: WireMessage[];
  /** The names of the tools offered. */
  tools: string[];
  promptTokens: number;
  /** Tokens debited to TPM/TPD: prompt + max_tokens when admitted, 0 when refused. */
  charged: number;
  stream: boolean;
  /** Sampling parameters, as sent (absent when not sent). */
  temperature?: number;
  topP?: number;
  status: number;
  errorType?: string;
  /** The refusal's words, when refused. */
  errorMessage?: string;
  /** When the last byte of the response was handed to the connection (Date.now). */
  finishedAt?: number;
}

/** Aims a fault at one request: the first whose last user message contains `prompt` (any, when absent). */
interface FaultTarget {
  prompt?: string;
}

export interface Fault extends FaultTarget {
  status: number;
  type?: string;
  message?: string;
  headers?: Record<string, string>;
}

/** Ways the next admitted stream misbehaves; `afterChunks` counts text chunks already sent. */
export type StreamFault = FaultTarget &
  (
    | { kind: 'reset'; afterChunks: number } // TCP reset mid-stream
    | { kind: 'resetBeforeHeaders' } // admitted and charged, then a TCP reset before any byte of the answer
    | { kind: 'huge'; bytes: number } // an answer of at least this many bytes of content, in 32 KiB chunks
    | { kind: 'truncate'; afterChunks: number } // clean close with neither finish_reason nor [DONE]
    | { kind: 'stall'; afterChunks: number } // keeps the socket open and sends nothing more
    | { kind: 'malformed'; afterChunks: number } // a `data:` line that is not JSON
    | { kind: 'errorEvent'; afterChunks: number } // `data: {"error":…}` inside the stream
    | { kind: 'hang' } // admitted, but not even the headers are sent
    | { kind: 'noDone' } // finish chunk, then close without [DONE]
    | { kind: 'json' } // a chat.completion JSON body although a stream was asked for
    | { kind: 'topLevelUsage' } // usage at the top level of the last chunk, none in the choice
    | { kind: 'endless'; content: string } // valid chunks carrying `content` ('' = nothing) that never end, no faster than the client reads
    | { kind: 'longLine'; bytes: number } // one `data:` line of `bytes` bytes (a content delta padded with "x"), then the close
  );

/**
 * Answers Moonshot never gives but a proxy, a mistyped base URL or a hostile server may, to the next
 * request on any path, before its key or body is looked at.
 */
export type ForeignAnswer =
  | { kind: 'redirect'; status: 301 | 302 | 303 | 307 | 308; location: string }
  // A JSON body of `bytes` bytes, written no faster than the client reads: for an error status
  // Moonshot's error object, else a model list, its message or id padded to that size.
  | { kind: 'hugeJson'; status: number; bytes: number }
  // A page as a proxy in front of the API serves it: any status, HTML.
  | { kind: 'page'; status: number; html: string };

type Limits = Required<Pick<FakeMoonshotOptions, 'rpm' | 'tpm' | 'concurrency' | 'tpd'>>;

/** A message as received: content may be empty beside tool calls. */
export interface WireMessage {
  role: string;
  content: string;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

export interface WireTool {
  name: string;
  description?: string;
  parameters?: { properties?: Record<string, unknown>; required?: string[] };
}

interface Answer {
  reasoning: string[];
  content: string[];
  toolCalls: { id: string; name: string; arguments: string }[];
  finishReason: 'stop' | 'length' | 'tool_calls';
  usage: WireUsage;
}

export const FAKE_ORG_ID = 'org-fake';
export const FAKE_ORG = `${FAKE_ORG_ID}<ak-fake>`;
const DEFAULT_MODELS = [
  { id: 'kimi-k2.6', context_length: 262_144 },
  { id: 'kimi-k2.5', context_length: 262_144 },
  { id: 'kimi-k2-0711-preview', context_length: 131_072 },
  { id: 'moonshot-v1-8k', context_length: 8_192 },
];
const THINKING_MODELS = new Set(['kimi-k2.5', 'kimi-k2.6']);
/** Server defaults when max_tokens is omitted (the doc: ~1024, much more for thinking models). */
const DEFAULT_MAX_TOKENS = 1024;
const DEFAULT_MAX_TOKENS_THINKING = 32_768;
/** Framing per message (`<|im_user|>user<|im_middle|>…<|im_end|>`) and for the reply's opening. */
const TOKENS_PER_MESSAGE = 4;
const REPLY_PRIMING_TOKENS = 3;
/** BPE is quadratic on one long piece (2,048 × "a" takes ~0.3 s): longer runs are approximated. */
const LONG_RUN = /\S{512,}|\s{512,}/g;

let encoder: Tiktoken | undefined;
/** cl100k_base, deliberately not the client's o200k stand-in, so calibration has a real gap to learn. */
function cl100k(): Tiktoken {
  if (!encoder) {
    // js-tiktoken's ranks are only reachable through package "exports", which this tsconfig's
    // node10 resolution cannot type, so the data is required and typed by hand.
    const ranks = require('js-tiktoken/ranks/cl100k_base') as TiktokenBPE & { default?: TiktokenBPE };
    encoder = new Tiktoken(ranks.default ?? ranks);
  }
  return encoder;
}

/** Server-side token count of a text; special-token strings count as ordinary text. */
export function countTextTokens(text: string): number {
  let total = 0;
  let last = 0;
  for (const run of text.matchAll(LONG_RUN)) {
    total += cl100k().encode(text.slice(last, run.index), [], []).length;
    total += Math.ceil(run[0].length / 4);
    last = run.index + run[0].length;
  }
  return total + cl100k().encode(text.slice(last), [], []).length;
}

export class FakeMoonshot {
  readonly stats: FakeMoonshotStats = {
    requests: 0,
    accepted: 0,
    completed: 0,
    rejected: {},
    chargedTokens: 0,
    maxConcurrent: 0,
    inFlight: 0,
    httpRequests: 0,
    dropped: 0,
  };
  readonly received: ReceivedRequest[] = [];
  readonly apiKey: string;

  private limits: Limits;
  private readonly windowMs: number;
  private readonly dayMs: number;
  private readonly chunkDelayMs: number;
  private readonly answerChunks: number;
  private readonly models: { id: string; context_length: number }[];
  /** Admission times and charges; RPM/TPM/TPD are counted from these. */
  private admissions: { at: number; charge: number; project?: boolean }[] = [];
  private quota: 429 | 403 | undefined;
  private readonly chargeRefused: boolean;
  private readonly project: { rpm: number; tpm: number };
  private readonly wording: 'current' | 'older';
  private readonly faults: Fault[] = [];
  private readonly streamFaults: StreamFault[] = [];
  private readonly foreignAnswers: ForeignAnswer[] = [];
  private readonly said: { content: string; toolCalls?: { name: string; arguments: string }[] }[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server?: http.Server;
  private url = '';

  constructor(private readonly options: FakeMoonshotOptions = {}) {
    this.limits = { rpm: options.rpm ?? 0, tpm: options.tpm ?? 0, concurrency: options.concurrency ?? 0, tpd: options.tpd ?? 0 };
    this.chargeRefused = options.chargeRefused ?? false;
    this.project = { rpm: options.project?.rpm ?? 0, tpm: options.project?.tpm ?? 0 };
    this.wording = options.wording ?? 'current';
    this.windowMs = options.windowMs ?? 60_000;
    this.dayMs = options.dayMs ?? 86_400_000;
    this.apiKey = options.apiKey ?? 'sk-test-key';
    this.chunkDelayMs = options.chunkDelayMs ?? 5;
    this.answerChunks = options.answerChunks ?? 5;
    this.models = options.models ?? DEFAULT_MODELS;
    this.inlineToolCalls = options.inlineToolCalls ?? false;
  }

  /** Whether tool calls come as Kimi's inline markup in the text (true) or as `tool_calls` deltas. */
  inlineToolCalls: boolean;

  get baseUrl(): string {
    if (!this.url) throw new Error('FakeMoonshot is not started');
    return this.url;
  }

  async start(): Promise<string> {
    cl100k(); // load the ranks (~0.3 s) now, not while a test's first request waits on them
    const server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) sendError(res, 500, 'server_error', `Fake server failure: ${String(error)}`);
        else res.destroy();
      });
    });
    server.on('connection', (socket) => {
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
    const host = this.options.host ?? '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.port ?? 0, host, () => resolve());
    });
    this.server = server;
    const { port } = server.address() as AddressInfo;
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/v1`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    const server = this.server;
    this.server = undefined;
    if (!server) return;
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /**
   * From now on every chat request is refused as an account with no balance left is (429 or 403,
   * in the words of real refusals), until called with undefined.
   */
  setQuotaExhausted(status: 429 | 403 | undefined): void {
    this.quota = status;
  }

  setLimits(limits: Partial<Pick<FakeMoonshotOptions, 'rpm' | 'tpm' | 'concurrency' | 'tpd'>>): void {
    this.limits = { ...this.limits, ...stripUndefined(limits) };
  }

  /**
   * The next chat request (after the key check) answers this error. Like a real refusal it is not
   * admitted, so it is not charged to RPM/TPM/TPD: Moonshot charges at admission only.
   */
  failNext(fault: Fault): void {
    this.faults.push(fault);
  }

  /** The next admitted streaming chat request misbehaves this way. */
  faultNextStream(fault: StreamFault): void {
    this.streamFaults.push(fault);
  }

  /** The next request, on any path, gets this answer instead of Moonshot's. */
  answerNext(answer: ForeignAnswer): void {
    this.foreignAnswers.push(answer);
  }

  /**
   * The next answer says `content` (in pieces of 9 characters, so that markup splits across chunks)
   * and calls `toolCalls`, whatever the request offered: a model quoting a page, or calling a tool
   * it was not given.
   */
  sayNext(said: { content: string; toolCalls?: { name: string; arguments: string }[] }): void {
    this.said.push(said);
  }

  /** Per message: framing + role + content + its tool calls; the tools' schemas; plus the reply's opening. */
  countPromptTokens(messages: WireMessage[], tools: WireTool[] = []): number {
    const perMessage = messages.map(
      (m) =>
        TOKENS_PER_MESSAGE +
        countTextTokens(m.role) +
        countTextTokens(m.content) +
        sum((m.tool_calls ?? []).map((c) => countTextTokens(c.function.name) + countTextTokens(c.function.arguments))),
    );
    const schemas = tools.length ? TOKENS_PER_MESSAGE + countTextTokens(JSON.stringify(tools)) : 0;
    return perMessage.reduce((a, b) => a + b, 0) + schemas + REPLY_PRIMING_TOKENS;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.stats.httpRequests++;
    res.once('close', () => {
      if (!res.writableFinished) this.stats.dropped++;
    });
    const body = await readBody(req);
    const foreign = this.foreignAnswers.shift();
    if (foreign) return sendForeign(res, foreign);
    const route = `${req.method} ${new URL(req.url ?? '/', 'http://fake').pathname.replace(/\/+$/, '')}`;
    if (route === 'POST /v1/chat/completions') return this.chat(req, res, body);
    if (!this.authorized(req)) return sendError(res, 401, 'invalid_authentication_error', 'Invalid Authentication');
    if (route === 'GET /v1/models') return sendJson(res, 200, this.modelList());
    if (route === 'POST /v1/tokenizers/estimate-token-count') return this.estimate(res, body);
    if (route === 'GET /v1/users/me/balance') {
      const data = { available_balance: 49.58894, voucher_balance: 46.58893, cash_balance: 3.00001 };
      return sendJson(res, 200, { code: 0, data, scode: '0x0', status: true });
    }
    sendError(res, 404, 'resource_not_found_error', `Not found: ${route}`);
  }

  private authorized(req: http.IncomingMessage): boolean {
    return req.headers.authorization === `Bearer ${this.apiKey}`;
  }

  private chat(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
    const at = Date.now();
    this.stats.requests++;
    const record: ReceivedRequest = {
      at,
      model: '',
      maxTokens: undefined,
      messages: [],
      tools: [],
      promptTokens: 0,
      charged: 0,
      stream: false,
      status: 0,
    };
    this.received.push(record);
    res.once('finish', () => (record.finishedAt = Date.now()));
    const refuse = (status: number, type: string | undefined, message: string, headers?: Record<string, string>): void => {
      const key = type ?? `http_${status}`;
      record.status = status;
      record.errorType = type;
      record.errorMessage = message;
      this.stats.rejected[key] = (this.stats.rejected[key] ?? 0) + 1;
      sendError(res, status, type, message, headers);
    };

    if (!this.authorized(req)) return refuse(401, 'invalid_authentication_error', 'Invalid Authentication');
    const parsed = parseChatBody(body);
    if (typeof parsed === 'string') return refuse(400, 'invalid_request_error', `Invalid request: ${parsed}`);
    Object.assign(record, {
      model: parsed.model,
      maxTokens: parsed.maxTokens,
      messages: parsed.messages,
      tools: parsed.tools.map((t) => t.name),
      stream: parsed.stream,
      temperature: parsed.temperature,
      topP: parsed.topP,
    });

    const lastUser = [...parsed.messages].reverse().find((m) => m.role === 'user')?.content ?? '';
    const fault = takeFault(this.faults, lastUser);
    if (fault) return refuse(fault.status, fault.type, fault.message ?? `Injected HTTP ${fault.status}`, fault.headers);

    const model = this.models.find((m) => m.id === parsed.model);
    if (!model) return refuse(404, 'resource_not_found_error', `Not found the model ${parsed.model} or Permission denied`);
    record.promptTokens = this.countPromptTokens(parsed.messages, parsed.tools);
    const room = model.context_length - record.promptTokens;
    if (room < 1 || (parsed.maxTokens !== undefined && parsed.maxTokens > room)) {
      return refuse(400, 'invalid_request_error', `Invalid request: Your request exceeded model token limit: ${model.context_length}`);
    }
    const thinking = THINKING_MODELS.has(model.id);
    // Reported of kimi-k2.5/k2.6: a thinking model accepts only temperature 1.
    if (thinking && parsed.temperature !== undefined && parsed.temperature !== 1) {
      return refuse(400, 'invalid_request_error', `Invalid request: invalid temperature: only 1 is allowed for this model`);
    }
    const maxTokens = parsed.maxTokens ?? Math.min(thinking ? DEFAULT_MAX_TOKENS_THINKING : DEFAULT_MAX_TOKENS, room);
    const charge = record.promptTokens + maxTokens;

    if (this.quota === 429)
      return refuse(
        429,
        'exceeded_current_quota_error',
        `Your account ${FAKE_ORG_ID} <ak-fake> is suspended due to insufficient balance, please recharge your account or check your plan and billing details`,
      );
    if (this.quota === 403)
      return refuse(
        403,
        'exceeded_current_quota_error',
        `Your account ${FAKE_ORG} is not active, organization <${FAKE_ORG_ID}> exceeded current quota, please check your plan and billing details`,
      );
    const refusal = this.admissionRefusal(at, charge);
    if (refusal) {
      // Counted all the same, when the server is set to: its request and its charge stay in the window.
      if (this.chargeRefused) this.admissions.push({ at, charge });
      return refuse(429, 'rate_limit_reached_error', refusal);
    }

    this.admissions.push({ at, charge });
    record.charged = charge;
    record.status = 200;
    this.stats.accepted++;
    this.stats.chargedTokens += charge;
    this.stats.inFlight++;
    this.stats.maxConcurrent = Math.max(this.stats.maxConcurrent, this.stats.inFlight);
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      this.stats.inFlight--;
    };
    res.once('finish', release); // the slot is held until the answer is out…
    res.once('close', release); // …or the client went away

    const built = buildAnswer(parsed.messages, parsed.tools, maxTokens, thinking, this.answerChunks, record.promptTokens);
    const said = this.said.shift();
    const answer: Answer = said
      ? {
          ...built,
          content: Array.from({ length: Math.ceil(said.content.length / 9) }, (_, i) => said.content.slice(i * 9, (i + 1) * 9)),
          toolCalls: (said.toolCalls ?? []).map((c, i) => ({ id: `functions.${c.name}:${i}`, ...c })),
          finishReason: said.toolCalls?.length ? 'tool_calls' : 'stop',
        }
      : built;
    const streamFault = parsed.stream ? takeFault(this.streamFaults, lastUser) : undefined;
    if (!parsed.stream || streamFault?.kind === 'json') {
      const delay = parsed.stream ? 0 : this.chunkDelayMs * (answer.reasoning.length + answer.content.length);
      this.later(delay, () => {
        if (res.destroyed) return;
        this.stats.completed++;
        sendJson(res, 200, completionBody(model.id, answer));
      });
      return;
    }
    this.stream(res, model.id, answer, streamFault);
  }

  /** Moonshot's refusal message when this charge does not fit now, else undefined. */
  private admissionRefusal(now: number, charge: number): string | undefined {
    const { rpm, tpm, concurrency, tpd } = this.limits;
    const older = this.wording === 'older';
    // The words of real refusals (test/support/moonshotRefusals.ts).
    const who = `Your account ${FAKE_ORG} request reached`;
    this.admissions = this.admissions.filter((a) => a.at > now - Math.max(this.windowMs, this.dayMs));
    // The concurrency wait cannot be known (a stream ends when it ends); Moonshot says 1 second.
    if (concurrency && this.stats.inFlight >= concurrency)
      return `${who} max ${older ? '' : 'organization '}concurrency: ${concurrency}, please try again after 1 seconds`;
    const minute = this.admissions.filter((a) => a.at > now - this.windowMs);
    const minuteTokens = sum(minute.map((a) => a.charge)) + charge;
    // A project's caps, when lower, refuse first, in their own words (no "try again" in them).
    if (this.project.rpm && minute.length >= this.project.rpm && (!rpm || this.project.rpm < rpm))
      return `${who} project RPM rate limit, current: ${minute.length + 1}, limit: ${this.project.rpm}, see https://platform.moonshot.ai/docs/pricing/limits`;
    if (this.project.tpm && minuteTokens > this.project.tpm && (!tpm || this.project.tpm < tpm))
      return `${who} project TPM rate limit, current: ${minuteTokens}, limit: ${this.project.tpm}, see https://platform.moonshot.ai/docs/pricing/limits`;
    if (rpm && minute.length >= rpm) {
      // Room appears when the (n - rpm + 1)th oldest admission leaves the window.
      const freeing = minute[minute.length - rpm];
      const seconds = Math.max(1, Math.ceil((freeing.at + this.windowMs - now) / 1000));
      return older
        ? `${who} max request: ${rpm}, please try again after ${seconds} seconds`
        : `${who} organization max RPM: ${rpm}, please try again after ${seconds} seconds`;
    }
    // "current" includes this request's charge: Moonshot's captured TPD message shows current > limit.
    if (tpm && minuteTokens > tpm) return `${who} ${older ? '' : 'organization '}TPM rate limit, current: ${minuteTokens}, limit: ${tpm}`;
    const dayTokens = sum(this.admissions.filter((a) => a.at > now - this.dayMs).map((a) => a.charge)) + charge;
    if (tpd && dayTokens > tpd) return `${who} ${older ? '' : 'organization '}TPD rate limit, current: ${dayTokens}, limit: ${tpd}`;
    return undefined;
  }

  private stream(res: http.ServerResponse, model: string, answer: Answer, fault: StreamFault | undefined): void {
    if (fault?.kind === 'hang') return; // holds the slot until the client gives up
    if (fault?.kind === 'resetBeforeHeaders') return void res.socket?.resetAndDestroy();
    res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8', 'Cache-Control': 'no-cache', Connection: 'keep-alive' });
    res.flushHeaders();
    if (fault?.kind === 'longLine') {
      return pour(res, padded('data: {"choices":[{"index":0,"delta":{"content":"', fault.bytes, '"},"finish_reason":null}]}\n\n'));
    }
    const id = `chatcmpl-fake-${this.stats.accepted}`;
    const created = Math.floor(Date.now() / 1000);
    const chunk = (choice: WireChunk['choices'][number], usage?: WireUsage): string => {
      const body: WireChunk = { id, object: 'chat.completion.chunk', created, model, choices: [choice], ...(usage ? { usage } : {}) };
      return `data: ${JSON.stringify(body)}\n\n`;
    };
    const inline = this.inlineToolCalls ? inlineMarkup(answer.toolCalls) : [];
    const pieces: WireChunk['choices'][number]['delta'][] = [
      ...answer.reasoning.map((text) => ({ reasoning_content: text })),
      ...(fault?.kind === 'huge' ? hugeContent(fault.bytes) : [...answer.content, ...inline]).map((text) => ({ content: text })),
      ...(this.inlineToolCalls ? [] : toolCallDeltas(answer.toolCalls)),
    ];
    const topLevel = fault?.kind === 'topLevelUsage';
    const finish = chunk(
      { index: 0, delta: {}, finish_reason: answer.finishReason, ...(topLevel ? {} : { usage: answer.usage }) },
      topLevel ? answer.usage : undefined,
    );
    const events = [
      chunk({ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }),
      ...pieces.map((delta) => chunk({ index: 0, delta, finish_reason: null })),
      finish,
      ...(fault?.kind === 'noDone' ? [] : ['data: [DONE]\n\n']),
    ];
    if (fault?.kind === 'endless') {
      const event = chunk({ index: 0, delta: { content: fault.content }, finish_reason: null });
      return pour(res, forever(event.repeat(Math.ceil(16_384 / event.length))));
    }
    const breakAt = fault && 'afterChunks' in fault ? Math.min(fault.afterChunks, pieces.length) + 1 : -1;

    let next = 0;
    const step = (): void => {
      if (res.destroyed) return;
      if (next === breakAt && fault) return this.breakStream(res, fault);
      res.write(events[next++]);
      if (next < events.length) return this.later(this.chunkDelayMs, step);
      this.stats.completed++;
      res.end();
    };
    step();
  }

  private breakStream(res: http.ServerResponse, fault: StreamFault): void {
    if (fault.kind === 'reset') {
      // Let the chunks already written reach the client before the RST.
      this.later(this.chunkDelayMs + 20, () => res.socket?.resetAndDestroy());
    } else if (fault.kind === 'truncate') {
      res.end();
    } else if (fault.kind === 'malformed') {
      res.end('data: {"choices":[{"delta":{"content":"oops"\n\n');
    } else if (fault.kind === 'errorEvent') {
      res.end(`data: ${JSON.stringify({ error: { type: 'server_error', message: 'The engine failed mid-answer' } })}\n\n`);
    } // 'stall': write nothing more and keep the socket open
  }

  private estimate(res: http.ServerResponse, body: string): void {
    const parsed = parseChatBody(body);
    if (typeof parsed === 'string') return sendError(res, 400, 'invalid_request_error', `Invalid request: ${parsed}`);
    if (!this.models.some((m) => m.id === parsed.model)) {
      return sendError(res, 404, 'resource_not_found_error', `Not found the model ${parsed.model} or Permission denied`);
    }
    sendJson(res, 200, {
      code: 0,
      data: { total_tokens: this.countPromptTokens(parsed.messages, parsed.tools) },
      scode: '0x0',
      status: true,
    });
  }

  private modelList(): WireModelList {
    const data = this.models.map((m) => ({
      id: m.id,
      object: 'model' as const,
      created: 1_700_000_000,
      owned_by: 'moonshot',
      context_length: m.context_length,
    }));
    return { object: 'list', data };
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }
}

/**
 * A deterministic answer derived from the prompt, cut at max_tokens (finish_reason 'length'). With
 * tools offered: a last user message that names one gets a call of it (its required string
 * arguments filled with the message's topic); a last `tool` message gets a reply quoting it.
 */
function buildAnswer(
  messages: WireMessage[],
  tools: WireTool[],
  maxTokens: number,
  thinking: boolean,
  chunks: number,
  promptTokens: number,
): Answer {
  const lastUser = [...messages].reverse().find((m) => m.role === 'user')?.content ?? '';
  const topic = lastUser.replace(/\s+/g, ' ').trim().slice(0, 40) || 'nothing';
  const last = messages[messages.length - 1];
  const called = last.role === 'user' ? tools.find((t) => lastUser.includes(t.name)) : undefined;
  if (called) {
    const args = Object.fromEntries((called.parameters?.required ?? []).map((name) => [name, topic]));
    const call = { id: `functions.${called.name}:0`, name: called.name, arguments: JSON.stringify(args) };
    const used = Math.min(maxTokens, countTextTokens(call.name) + countTextTokens(call.arguments));
    const usage = { prompt_tokens: promptTokens, completion_tokens: used, total_tokens: promptTokens + used, cached_tokens: 0 };
    return { reasoning: [], content: [], toolCalls: [call], finishReason: 'tool_calls', usage };
  }
  const reasoning = thinking ? ['The user asks about ', `"${topic}".`, ' I will answer briefly.'] : [];
  const content =
    last.role === 'tool'
      ? ['The tool ', `answered: "${last.content.replace(/\s+/g, ' ').trim().slice(0, 60)}".`]
      : Array.from({ length: chunks }, (_, i) => (i === 0 ? `About "${topic}":` : ` point ${i} of ${chunks - 1}.`));
  let used = 0;
  const fit = (pieces: string[]): string[] => {
    const kept: string[] = [];
    for (const piece of pieces) {
      const tokens = countTextTokens(piece);
      if (used + tokens > maxTokens) break;
      used += tokens;
      kept.push(piece);
    }
    return kept;
  };
  const keptReasoning = fit(reasoning);
  const keptContent = keptReasoning.length === reasoning.length ? fit(content) : [];
  const finishReason = keptContent.length === content.length ? 'stop' : 'length';
  const usage = { prompt_tokens: promptTokens, completion_tokens: used, total_tokens: promptTokens + used, cached_tokens: 0 };
  return { reasoning: keptReasoning, content: keptContent, toolCalls: [], finishReason, usage };
}

/** Each call as OpenAI deltas: the id and name first, then the arguments in three pieces. */
function toolCallDeltas(calls: Answer['toolCalls']): WireChunk['choices'][number]['delta'][] {
  return calls.flatMap((call, index) => {
    const third = Math.ceil(call.arguments.length / 3);
    const parts = [0, 1, 2].map((i) => call.arguments.slice(i * third, (i + 1) * third));
    return [
      { tool_calls: [{ index, id: call.id, type: 'function' as const, function: { name: call.name, arguments: '' } }] },
      ...parts.map((args) => ({ tool_calls: [{ index, function: { arguments: args } }] })),
    ];
  });
}

/** The calls in Kimi K2's inline markup, cut into pieces of 9 characters, so that markers split across chunks. */
function inlineMarkup(calls: Answer['toolCalls']): string[] {
  if (!calls.length) return [];
  const markup =
    '<|tool_calls_section_begin|>' +
    calls.map((c) => `<|tool_call_begin|>${c.id}<|tool_call_argument_begin|>${c.arguments}<|tool_call_end|>`).join('') +
    '<|tool_calls_section_end|>';
  return Array.from({ length: Math.ceil(markup.length / 9) }, (_, i) => markup.slice(i * 9, (i + 1) * 9));
}

/** At least `bytes` bytes of UTF-8 text with multi-byte characters, in pieces of 32 KiB. */
function hugeContent(bytes: number): string[] {
  const unit = 'Kimi 答案 — a long answer.. '; // 32 bytes; the 3-byte characters get split across network chunks
  const pieces: string[] = [];
  for (let left = Math.ceil(bytes / 32); left > 0; left -= 1024) pieces.push(unit.repeat(Math.min(1024, left)));
  return pieces;
}

function completionBody(model: string, answer: Answer): WireCompletion {
  const reasoning = answer.reasoning.join('');
  return {
    id: 'chatcmpl-fake',
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model,
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: answer.content.join(''),
          refusal: null,
          ...(answer.toolCalls.length
            ? {
                tool_calls: answer.toolCalls.map((c) => ({
                  id: c.id,
                  type: 'function' as const,
                  function: { name: c.name, arguments: c.arguments },
                })),
              }
            : {}),
          ...(reasoning ? { reasoning_content: reasoning } : {}),
        },
        finish_reason: answer.finishReason,
        logprobs: null,
      },
    ],
    usage: answer.usage,
  };
}

interface ParsedChat {
  model: string;
  messages: WireMessage[];
  tools: WireTool[];
  maxTokens: number | undefined;
  stream: boolean;
  temperature?: number;
  topP?: number;
}

/** The request body, or a description of what is wrong with it. */
function parseChatBody(body: string): ParsedChat | string {
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return 'the body is not valid JSON';
  }
  if (typeof json !== 'object' || json === null) return 'the body must be a JSON object';
  const { model, messages, max_tokens: maxTokens, stream, temperature, top_p: topP, tools } = json as Record<string, unknown>;
  if (typeof model !== 'string' || !model) return 'model is required';
  if (!Array.isArray(messages) || messages.length === 0) return 'messages must be a non-empty array';
  const valid = messages.every(
    (m) => typeof m?.role === 'string' && (typeof m?.content === 'string' || (m.role === 'assistant' && Array.isArray(m.tool_calls))),
  );
  if (!valid) return 'each message needs a string role and a string content';
  // As OpenAI's API: a tool's answer must follow the assistant message that called it, by id.
  const callIds = new Set<string>();
  for (const m of messages as WireMessage[]) {
    for (const call of m.tool_calls ?? []) {
      if (typeof call?.id !== 'string' || typeof call.function?.name !== 'string' || typeof call.function.arguments !== 'string')
        return 'each tool call needs an id, a function name and its arguments as a string';
      callIds.add(call.id);
    }
    if (m.role === 'tool' && !callIds.has(m.tool_call_id ?? '')) return `tool_call_id ${m.tool_call_id} is not found`;
  }
  if (tools !== undefined && !Array.isArray(tools)) return 'tools must be an array';
  const parsedTools: WireTool[] = [];
  for (const tool of (tools ?? []) as { type?: string; function?: WireTool }[]) {
    if (tool?.type !== 'function' || typeof tool.function?.name !== 'string') return 'each tool must be a function with a name';
    parsedTools.push(tool.function);
  }
  if (maxTokens !== undefined && maxTokens !== null && !(Number.isInteger(maxTokens) && (maxTokens as number) > 0)) {
    return 'max_tokens must be a positive integer';
  }
  const cleaned = (messages as WireMessage[]).map(({ role, content, tool_calls, tool_call_id }) => ({
    role,
    content: content ?? '',
    ...(tool_calls ? { tool_calls } : {}),
    ...(tool_call_id ? { tool_call_id } : {}),
  }));
  if (temperature !== undefined && typeof temperature !== 'number') return 'temperature must be a number';
  if (topP !== undefined && typeof topP !== 'number') return 'top_p must be a number';
  return {
    model,
    messages: cleaned,
    tools: parsedTools,
    maxTokens: (maxTokens ?? undefined) as number | undefined,
    stream: stream === true,
    temperature,
    topP,
  };
}

function sendError(
  res: http.ServerResponse,
  status: number,
  type: string | undefined,
  message: string,
  headers?: Record<string, string>,
): void {
  sendJson(res, status, { error: type === undefined ? { message } : { message, type } }, headers);
}

function sendForeign(res: http.ServerResponse, answer: ForeignAnswer): void {
  if (answer.kind === 'redirect') {
    res.writeHead(answer.status, { Location: answer.location, 'Content-Type': 'text/plain; charset=utf-8' });
    return void res.end(`Moved to ${answer.location}`);
  }
  if (answer.kind === 'page') {
    res.writeHead(answer.status, { 'Content-Type': 'text/html; charset=utf-8' });
    return void res.end(answer.html);
  }
  res.writeHead(answer.status, { 'Content-Type': 'application/json; charset=utf-8' });
  const [head, tail] =
    answer.status >= 400 ? ['{"error":{"type":"server_error","message":"', '"}}'] : ['{"object":"list","data":[{"id":"', '"}]}'];
  pour(res, padded(head, answer.bytes, tail));
}

/** Writes the pieces no faster than the client reads them, then ends the response. */
function pour(res: http.ServerResponse, pieces: Iterator<string | Buffer>): void {
  const next = (): void => {
    for (;;) {
      if (res.destroyed) return;
      const piece = pieces.next();
      if (piece.done) return void res.end();
      if (!res.write(piece.value)) return void res.once('drain', next);
    }
  };
  next();
}

function* forever<T>(piece: T): Generator<T> {
  for (;;) yield piece;
}

/** `head`, then "x" to make `bytes` bytes in all (Infinity: never ending), then `tail`. */
function* padded(head: string, bytes: number, tail: string): Generator<string | Buffer> {
  yield head;
  const block = Buffer.alloc(64 * 1024, 'x');
  for (let left = bytes - head.length - tail.length; left > 0; left -= block.length) {
    yield left >= block.length ? block : block.subarray(0, left);
  }
  yield tail;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { ...headers, 'Content-Type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    req.on('data', (part: Buffer) => parts.push(part));
    req.on('end', () => resolve(Buffer.concat(parts).toString('utf8')));
    req.on('error', reject);
  });
}

function takeFault<F extends FaultTarget>(faults: F[], prompt: string): F | undefined {
  const i = faults.findIndex((f) => f.prompt === undefined || prompt.includes(f.prompt));
  return i < 0 ? undefined : faults.splice(i, 1)[0];
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
