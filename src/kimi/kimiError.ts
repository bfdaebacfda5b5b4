/** Moonshot failures as the kinds the budget engine acts on, with messages a person can act on. */
import type { ChatResult } from './types';
import { retryAfterMs, type HeaderSource } from './retryAfter';
import { isObject } from './json';
import { readRefusal, saysOverloaded } from './refusal';

export type KimiErrorKind =
  | 'rateLimited'
  | 'overloaded'
  | 'quotaExhausted'
  | 'unauthorized'
  | 'badRequest'
  | 'forbidden'
  | 'notFound'
  | 'server'
  | 'network'
  | 'cancelled';

export interface KimiErrorInit {
  kind: KimiErrorKind;
  message: string;
  status?: number;
  type?: string;
  retryAfterMs?: number;
  serverMessage?: string;
  streamed?: boolean;
  partial?: ChatResult;
}

export class KimiError extends Error {
  readonly kind: KimiErrorKind;
  readonly status?: number;
  /** Moonshot's `error.type`, e.g. `rate_limit_reached_error`. */
  readonly type?: string;
  /** From Retry-After, the message's "after N seconds", or x-ratelimit-reset; absent when unknown. */
  readonly retryAfterMs?: number;
  readonly serverMessage?: string;
  /** True when part of an answer had already arrived before the failure. */
  readonly streamed: boolean;
  /** What had arrived, when streamed. */
  readonly partial?: ChatResult;

  constructor(init: KimiErrorInit) {
    super(init.message);
    this.name = 'KimiError';
    this.kind = init.kind;
    this.status = init.status;
    this.type = init.type;
    this.retryAfterMs = init.retryAfterMs;
    this.serverMessage = init.serverMessage;
    this.streamed = init.streamed ?? false;
    this.partial = init.partial;
  }

  /** The same error with more fields set; errors are immutable once thrown. */
  with(changes: Partial<KimiErrorInit>): KimiError {
    return new KimiError({ ...this.fields(), ...changes });
  }

  fields(): KimiErrorInit {
    const { kind, message, status, type, retryAfterMs, serverMessage, streamed, partial } = this;
    return { kind, message, status, type, retryAfterMs, serverMessage, streamed, partial };
  }
}

/** Moonshot's documented `error.type`s; the type decides before the status does. */
export const KIND_BY_TYPE: Readonly<Record<string, KimiErrorKind>> = {
  rate_limit_reached_error: 'rateLimited',
  engine_overloaded_error: 'overloaded',
  exceeded_current_quota_error: 'quotaExhausted',
  insufficient_quota: 'quotaExhausted',
  // Kimi Code's quota (5-hour window, week, billing cycle) spent, or a client it does not serve.
  access_terminated_error: 'quotaExhausted',
  invalid_request_error: 'badRequest',
  content_filter: 'badRequest',
  invalid_authentication_error: 'unauthorized',
  incorrect_api_key_error: 'unauthorized',
  permission_denied_error: 'forbidden',
  resource_not_found_error: 'notFound',
  server_error: 'server',
  unexpected_output: 'server',
};

export function kindFor(status: number | undefined, type: string | undefined, message?: string): KimiErrorKind {
  // Moonshot's Anthropic endpoint types an overload as a rate error: the words tell.
  if ((status === 429 || type === 'rate_limit_error' || type === 'rate_limit_reached_error') && saysOverloaded(message))
    return 'overloaded';
  const byType = type && Object.hasOwn(KIND_BY_TYPE, type) ? KIND_BY_TYPE[type] : undefined; // not "toString" from the prototype
  if (byType) return byType;
  if (status === 429) return 'rateLimited'; // an untyped 429 is still a "slow down"
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'notFound';
  if (status !== undefined && status >= 400 && status < 500) return 'badRequest';
  return 'server';
}

const LEAD: Record<KimiErrorKind, string> = {
  rateLimited: 'Moonshot rate limit reached',
  overloaded: 'Moonshot is overloaded right now',
  quotaExhausted: 'Your Moonshot balance or quota is exhausted (or the account is suspended)',
  unauthorized: 'Moonshot rejected the API key',
  badRequest: 'Moonshot rejected the request',
  forbidden: 'Moonshot denied permission for this request',
  notFound: 'Moonshot does not know this model or endpoint',
  server: 'Moonshot had a server error',
  network: 'Could not reach Moonshot',
  cancelled: 'The request was cancelled',
};

/** Every kind of KimiError (LEAD's type makes it name each one). */
export const KIMI_ERROR_KINDS = Object.keys(LEAD) as readonly KimiErrorKind[];

const HINT: Partial<Record<KimiErrorKind, string>> = {
  overloaded: 'Back off and try again shortly.',
  quotaExhausted:
    "Top up, or check the account's plan, in the Moonshot console (a plan's quota frees when its window resets); retrying will not help, so nothing waiting was sent.",
  unauthorized: 'Set a valid Moonshot API key.',
  notFound: 'Pick a model from the list Moonshot returns at /models.',
  server: 'Try again in a moment.',
};

/** Builds the error for a non-2xx answer (or an error object inside a 200 body). */
export function errorFromResponse(status: number | undefined, bodyText: string, headers: HeaderSource | undefined, now: number): KimiError {
  const { type, message } = readErrorBody(bodyText);
  const kind = kindFor(status, type, message);
  const wait = kind === 'rateLimited' || kind === 'overloaded' || kind === 'server' ? retryAfterMs(headers, message, now) : undefined;
  const daily = kind === 'rateLimited' && dailyLimitOf(message) !== undefined;
  const where = [status !== undefined ? `HTTP ${status}` : undefined, type].filter(Boolean).join(' ');
  const lead = daily ? "Moonshot's daily token limit (TPD) is reached" : LEAD[kind];
  const parts = [`${lead}${where ? ` (${where})` : ''}${message ? `: ${stripPeriod(message)}` : ''}.`];
  if (kind === 'rateLimited' && wait !== undefined) parts.push(`Retry in ${formatSeconds(wait)}.`);
  else if (daily) parts.push("It frees as the day's tokens age out; when Moonshot's day rolls over is not stated.");
  if (HINT[kind]) parts.push(HINT[kind]!);
  return new KimiError({ kind, message: parts.join(' '), status, type, retryAfterMs: wait, serverMessage: message });
}

/**
 * Moonshot's per-day refusal ("…TPD rate limit, current: 1526210, limit: 1500000"), with by how
 * much the request overshot when the numbers are given; undefined for any other message.
 */
export function dailyLimitOf(message: string | undefined): { excessTokens?: number } | undefined {
  const { limit, current, stated } = readRefusal(message);
  if (limit !== 'tokensPerDay') return undefined;
  const excess = current !== undefined && stated !== undefined ? current - stated : NaN;
  return excess > 0 && Number.isSafeInteger(excess) ? { excessTokens: excess } : {};
}

/** Any thrown value from fetch or a body read that is not ours: the network failed. */
export function networkError(cause: unknown, host: string, streamed: boolean): KimiError {
  const { code, detail } = describeCause(cause);
  const message = streamed
    ? `The connection to Moonshot (${host}) broke before the answer finished: ${detail}.`
    : DROPPED.has(code ?? '')
      ? `The connection to Moonshot (${host}) was dropped before it answered: ${detail}. Moonshot may have counted the request; send it again.`
      : `${LEAD.network} at ${host}: ${detail}. Check the network and the base URL.`;
  return new KimiError({ kind: 'network', message });
}

/** Codes of a connection that was made and then lost: the address is right, the exchange broke. */
const DROPPED = new Set(['ECONNRESET', 'EPIPE', 'UND_ERR_SOCKET', 'UND_ERR_CLOSED']);

export function cancelledError(): KimiError {
  return new KimiError({ kind: 'cancelled', message: `${LEAD.cancelled}.` });
}

/** The text with every occurrence of the key replaced: the one way the key is taken out of anything shown or logged. */
export function redact(text: string, key: string | undefined): string {
  return key ? text.split(key).join('[redacted]') : text;
}

/** Replaces every occurrence of the key in the error's strings; a key must never reach a log line. */
export function redactKey(error: KimiError, key: string | undefined): KimiError {
  if (!key) return error;
  // Every string field, the partial answer's too: a server may echo the key anywhere (its type, the model).
  // Each is scrubbed as it is, with no pre-check on the fields as JSON, where a quote or a line break is spelled differently.
  const scrub = <O extends object>(fields: O): O =>
    Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? redact(v, key) : v])) as O;
  const init = scrub(error.fields());
  return new KimiError({ ...init, partial: init.partial && scrub(init.partial) });
}

function readErrorBody(text: string): { type?: string; message?: string } {
  try {
    const body: unknown = JSON.parse(text);
    const error = isObject(body) && isObject(body.error) ? body.error : body;
    if (isObject(error)) {
      const type = typeof error.type === 'string' ? error.type : typeof error.code === 'string' ? error.code : undefined;
      const message = typeof error.message === 'string' ? error.message : undefined;
      return { type, message };
    }
  } catch {
    // not JSON (a proxy's HTML page, say): show the start of it instead
  }
  const snippet = text
    .replace(/<[^<>]*>/g, ' ') // not [^>]*: each "<" would scan to the end, quadratic on a page of "<"s
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 200);
  return { message: snippet || undefined };
}

function describeCause(cause: unknown): { code?: string; detail: string } {
  const inner = isObject(cause) && isObject(cause.cause) ? cause.cause : undefined;
  const code = [inner?.code, isObject(cause) ? cause.code : undefined].find((c): c is string => typeof c === 'string');
  const message = [inner?.message, cause instanceof Error ? cause.message : undefined].find((m) => typeof m === 'string');
  if (typeof message === 'string' && code && !message.includes(code)) return { code, detail: `${code} (${message})` };
  return { code, detail: String(message ?? code ?? 'unknown network error') };
}

function stripPeriod(text: string): string {
  return text.trim().replace(/\.+$/, '');
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}
