import { DEFAULT_LIMITS, Limits } from './limits';
import { DEFAULT_QUEUE_OPTIONS, QueueOptions } from './sendQueue';
import { PriceTable } from './cost';

/** Everything the extension reads from `kimiBudget.*`, validated. */
export interface Config {
  readonly baseUrl: string;
  readonly model: string;
  readonly maxOutputTokens: number;
  /** Sent as the system message of a new conversation; '' sends none. */
  readonly systemPrompt: string;
  /** Sampling parameters, sent only when set. */
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly limits: Limits;
  readonly queue: QueueOptions;
  readonly prices: PriceTable;
}

export const DEFAULTS = {
  baseUrl: 'https://api.moonshot.ai/v1',
  model: 'kimi-k2.6',
  maxOutputTokens: 8192,
  maxLength: DEFAULT_QUEUE_OPTIONS.maxLength,
  maxWaitSeconds: DEFAULT_QUEUE_OPTIONS.maxWaitMs / 1000,
} as const;

/**
 * Reads the settings through `get` (a key below `kimiBudget.`, undefined when unset) and replaces
 * each invalid value by its default, with one problem line per value naming the key and the fix.
 */
export function parseConfig(get: (key: string) => unknown): { config: Config; problems: string[] } {
  const problems: string[] = [];
  const integer = (key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const value = get(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    const range = max === Number.MAX_SAFE_INTEGER ? `a whole number ≥ ${min}` : `a whole number from ${min} to ${max}`;
    problems.push(`kimiBudget.${key} is ${JSON.stringify(value)}, but it must be ${range}; using ${fallback} until it is fixed.`);
    return fallback;
  };
  const optionalNumber = (key: string, min: number, max: number): number | undefined => {
    const value = get(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max) return value;
    problems.push(
      `kimiBudget.${key} is ${JSON.stringify(value)}, but it must be a number from ${min} to ${max}, or unset; leaving it unset until it is fixed.`,
    );
    return undefined;
  };
  const text = (key: string, fallback: string, valid: (v: string) => string | undefined): string => {
    const value = get(key);
    if (value === undefined || value === null) return fallback;
    const fault = typeof value !== 'string' ? 'must be a string' : valid(value.trim());
    if (!fault) return (value as string).trim();
    problems.push(`kimiBudget.${key} is ${JSON.stringify(value)}, but it ${fault}; using "${fallback}" until it is fixed.`);
    return fallback;
  };

  const config: Config = {
    baseUrl: text('baseUrl', DEFAULTS.baseUrl, (v) => baseUrlFault(v, get('allowInsecureHttp') === true)).replace(/\/+$/, ''),
    model: text('model', DEFAULTS.model, (v) => (v ? undefined : 'must not be empty')),
    maxOutputTokens: integer('maxOutputTokens', DEFAULTS.maxOutputTokens, 1),
    systemPrompt: text('systemPrompt', '', () => undefined),
    temperature: optionalNumber('temperature', 0, 2),
    topP: optionalNumber('topP', 0, 1),
    limits: {
      requestsPerMinute: integer('limits.requestsPerMinute', DEFAULT_LIMITS.requestsPerMinute, 1),
      tokensPerMinute: integer('limits.tokensPerMinute', DEFAULT_LIMITS.tokensPerMinute, 1),
      concurrency: integer('limits.concurrency', DEFAULT_LIMITS.concurrency, 0),
      tokensPerDay: integer('limits.tokensPerDay', DEFAULT_LIMITS.tokensPerDay, 0),
    },
    queue: {
      ...DEFAULT_QUEUE_OPTIONS,
      maxLength: integer('queue.maxLength', DEFAULTS.maxLength, 1, 1000),
      maxWaitMs: integer('queue.maxWaitSeconds', DEFAULTS.maxWaitSeconds, 1) * 1000,
    },
    prices: parsePrices(get('prices'), problems),
  };
  return { config, problems };
}

function baseUrlFault(value: string, allowInsecureHttp: boolean): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL (expected something like https://api.moonshot.ai/v1)';
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return 'must start with https://';
  // Over plain http the key would cross the network readable by anyone on the way: only this machine is safe.
  if (isLoopback(url.hostname) || allowInsecureHttp) return undefined;
  return 'would send your API key unencrypted over http:// to another machine; use https://, or set kimiBudget.allowInsecureHttp to true if you accept that';
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function parsePrices(value: unknown, problems: string[]): PriceTable {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push(
      'kimiBudget.prices must be an object of models, e.g. {"kimi-k2.6": {"input": 0.95, "output": 4}}; using the built-in prices.',
    );
    return {};
  }
  const table: Record<string, PriceTable[string]> = {};
  for (const [model, price] of Object.entries(value as Record<string, unknown>)) {
    const p = price as Record<string, unknown> | null;
    const ok = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
    if (p && typeof p === 'object' && ok(p.input) && ok(p.output) && (p.cachedInput === undefined || ok(p.cachedInput))) {
      table[model] = {
        input: p.input as number,
        output: p.output as number,
        cachedInput: (p.cachedInput as number | undefined) ?? (p.input as number),
      };
    } else {
      problems.push(
        `kimiBudget.prices["${model}"] needs numbers ≥ 0 for "input" and "output" (and optionally "cachedInput"), in USD per million tokens; using the built-in price.`,
      );
    }
  }
  return table;
}
