/** Moonshot failures as the kinds the budget engine acts on, with messages a person can act on. */
import type { ChatResult } from './types';
import { retryAfterMs, type HeaderSource } from './retryAfter';

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
const KIND_BY_TYPE: Record<string, KimiErrorKind> = {
  rate_limit_reached_error: 'rateLimited',
  engine_overloaded_error: 'overloaded',
  exceeded_current_quota_error: 'quotaExhausted',
  insufficient_quota: 'quotaExhausted',
  invalid_request_error: 'badRequest',
  content_filter: 'badRequest',
  invalid_authentication_error: 'unauthorized',
  incorrect_api_key_error: 'unauthorized',
  permission_denied_error: 'forbidden',
  resource_not_found_error: 'notFound',
  server_error: 'server',
  unexpected_output: 'server',
};

export function kindFor(status: number | undefined, type: string | undefined): KimiErrorKind {
  const byType = type ? KIND_BY_TYPE[type] : undefined;
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

const HINT: Partial<Record<KimiErrorKind, string>> = {
  overloaded: 'Back off and try again shortly.',
  quotaExhausted: 'Top up or check the account in the Moonshot console; retrying will not help.',
  unauthorized: 'Set a valid Moonshot API key.',
  notFound: 'Pick a model from the list Moonshot returns at /models.',
  server: 'Try again in a moment.',
};

/** Builds the error for a non-2xx answer (or an error object inside a 200 body). */
export function errorFromResponse(
  status: number | undefined,
  bodyText: string,
  headers: HeaderSource | undefined,
  now: number,
): KimiError {
  const { type, message } = readErrorBody(bodyText);
  const kind = kindFor(status, type);
  const wait = kind === 'rateLimited' || kind === 'overloaded' || kind === 'server' ? retryAfterMs(headers, message, now) : undefined;
  const where = [status !== undefined ? `HTTP ${status}` : undefined, type].filter(Boolean).join(' ');
  const parts = [`${LEAD[kind]}${where ? ` (${where})` : ''}${message ? `: ${stripPeriod(message)}` : ''}.`];
  if (kind === 'rateLimited' && wait !== undefined) parts.push(`Retry in ${formatSeconds(wait)}.`);
  if (HINT[kind]) parts.push(HINT[kind]!);
  return new KimiError({ kind, message: parts.join(' '), status, type, retryAfterMs: wait, serverMessage: message });
}

/** Any thrown value from fetch or a body read that is not ours: the network failed. */
export function networkError(cause: unknown, host: string, streamed: boolean): KimiError {
  const detail = describeCause(cause);
  const message = streamed
    ? `The connection to Moonshot (${host}) broke before the answer finished: ${detail}.`
    : `${LEAD.network} at ${host}: ${detail}. Check the network and the base URL.`;
  return new KimiError({ kind: 'network', message });
}

export function cancelledError(): KimiError {
  return new KimiError({ kind: 'cancelled', message: `${LEAD.cancelled}.` });
}

/** Replaces every occurrence of the key in the error's strings; a key must never reach a log line. */
export function redactKey(error: KimiError, key: string | undefined): KimiError {
  if (!key || !JSON.stringify({ ...error.fields() }).includes(key)) return error;
  const scrub = (s: string): string => s.split(key).join('[redacted]');
  const init = error.fields();
  const partial = init.partial && { ...init.partial, content: scrub(init.partial.content), reasoning: scrub(init.partial.reasoning) };
  return new KimiError({ ...init, message: scrub(init.message), serverMessage: init.serverMessage && scrub(init.serverMessage), partial });
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
  const snippet = text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 200);
  return { message: snippet || undefined };
}

function describeCause(cause: unknown): string {
  const inner = isObject(cause) && isObject(cause.cause) ? cause.cause : undefined;
  const code = [inner?.code, isObject(cause) ? cause.code : undefined].find((c) => typeof c === 'string');
  const message = [inner?.message, cause instanceof Error ? cause.message : undefined].find((m) => typeof m === 'string');
  if (typeof message === 'string' && typeof code === 'string' && !message.includes(code)) return `${code} (${message})`;
  return String(message ?? code ?? 'unknown network error');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

function stripPeriod(text: string): string {
  return text.trim().replace(/\.+$/, '');
}

function formatSeconds(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}
