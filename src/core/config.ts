import { DEFAULT_LIMITS, LimitName, Limits, LIMIT_NAMES, TIER_CHOICES, TierChoice, TIERS } from './limits';
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
  /**
   * The account's limits: each one set in the settings, else the tier's, else the default. The
   * budget applies a limit the server states in a refusal where it is smaller.
   */
  readonly limits: Limits;
  /** The tier chosen in `kimiBudget.limits.tier`, "learn" when the user said they do not know it, undefined when never said. */
  readonly tier: TierChoice | undefined;
  readonly queue: QueueOptions;
  readonly prices: PriceTable;
  /** A team's shared budget in Redis; off when `redisUrl` is ''. */
  readonly team: { readonly redisUrl: string; readonly budgetName: string };
}

export const DEFAULTS = {
  baseUrl: 'https://api.moonshot.ai/v1',
  model: 'kimi-k2.6',
  maxOutputTokens: 8192,
  maxLength: DEFAULT_QUEUE_OPTIONS.maxLength,
  maxWaitSeconds: DEFAULT_QUEUE_OPTIONS.maxWaitMs / 1000,
} as const;

/** What a setting's value should have been. */
export type Expected =
  | { readonly kind: 'integer'; readonly min: number; readonly max?: number }
  /** A number in range, or unset (the setting is then left unset). */
  | { readonly kind: 'number'; readonly min: number; readonly max: number }
  | { readonly kind: 'string' }
  | { readonly kind: 'nonEmpty' }
  | { readonly kind: 'url' }
  | { readonly kind: 'https' }
  /** http:// to another machine, which would carry the key in clear, without allowInsecureHttp. */
  | { readonly kind: 'notInsecureHttp' }
  | { readonly kind: 'redisUrl' }
  /** A password written into the Redis URL, where settings would keep it in clear. */
  | { readonly kind: 'redisPassword' }
  | { readonly kind: 'tier' }
  | { readonly kind: 'prices' }
  | { readonly kind: 'price'; readonly model: string };

/** A setting whose value could not be used: its key below `kimiBudget.`, the value, what was expected, and what is used instead. */
export interface SettingProblem {
  readonly key: string;
  readonly value: unknown;
  readonly expected: Expected;
  /** Used until the value is fixed; undefined when the setting is left unset. */
  readonly fallback?: unknown;
}

/**
 * Reads the settings through `get` (a key below `kimiBudget.`, undefined when unset) and replaces
 * each invalid value by its default, with one problem per value that says what was expected.
 */
export function parseConfig(
  get: (key: string) => unknown,
  /** Whether the user set the key (a default is not a choice); by default, whether `get` gives a value. */
  isSet: (key: string) => boolean = (key) => get(key) !== undefined,
): { config: Config; problems: SettingProblem[] } {
  const problems: SettingProblem[] = [];
  const integer = (key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number => {
    const value = get(key);
    if (value === undefined || value === null) return fallback;
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    problems.push({ key, value, expected: { kind: 'integer', min, ...(max === Number.MAX_SAFE_INTEGER ? {} : { max }) }, fallback });
    return fallback;
  };
  const optionalNumber = (key: string, min: number, max: number): number | undefined => {
    const value = get(key);
    if (value === undefined || value === null) return undefined;
    if (typeof value === 'number' && Number.isFinite(value) && value >= min && value <= max) return value;
    problems.push({ key, value, expected: { kind: 'number', min, max } });
    return undefined;
  };
  const text = (key: string, fallback: string, valid: (v: string) => Expected | undefined): string => {
    const value = get(key);
    if (value === undefined || value === null) return fallback;
    const expected: Expected | undefined = typeof value !== 'string' ? { kind: 'string' } : valid(value.trim());
    if (!expected) return (value as string).trim();
    problems.push({ key, value, expected, fallback });
    return fallback;
  };

  const tierValue = get('limits.tier');
  let tier: TierChoice | undefined;
  if (typeof tierValue === 'string' && (TIER_CHOICES as readonly string[]).includes(tierValue)) tier = tierValue as TierChoice;
  else if (tierValue !== undefined && tierValue !== null && tierValue !== '')
    problems.push({ key: 'limits.tier', value: tierValue, expected: { kind: 'tier' }, fallback: 'the limits of its own settings' });
  const preset: Limits = tier && tier !== 'learn' ? TIERS[tier] : DEFAULT_LIMITS;
  /** A limit set in the settings wins; else the tier's; else the default. */
  const limit = (name: LimitName, min: number) => (isSet(`limits.${name}`) ? integer(`limits.${name}`, preset[name], min) : preset[name]);
  const config: Config = {
    baseUrl: text('baseUrl', DEFAULTS.baseUrl, (v) => baseUrlFault(v, get('allowInsecureHttp') === true)).replace(/\/+$/, ''),
    model: text('model', DEFAULTS.model, (v) => (v ? undefined : { kind: 'nonEmpty' })),
    maxOutputTokens: integer('maxOutputTokens', DEFAULTS.maxOutputTokens, 1),
    systemPrompt: text('systemPrompt', '', () => undefined),
    temperature: optionalNumber('temperature', 0, 2),
    topP: optionalNumber('topP', 0, 1),
    limits: Object.fromEntries(
      LIMIT_NAMES.map((name) => [name, limit(name, name === 'concurrency' || name === 'tokensPerDay' ? 0 : 1)]),
    ) as unknown as Limits,
    tier,
    queue: {
      ...DEFAULT_QUEUE_OPTIONS,
      maxLength: integer('queue.maxLength', DEFAULTS.maxLength, 1, 1000),
      maxWaitMs: integer('queue.maxWaitSeconds', DEFAULTS.maxWaitSeconds, 1) * 1000,
    },
    prices: parsePrices(get('prices'), problems),
    team: {
      redisUrl: text('team.redisUrl', '', redisUrlFault),
      budgetName: text('team.budgetName', '', () => undefined),
    },
  };
  return { config, problems };
}

function baseUrlFault(value: string, allowInsecureHttp: boolean): Expected | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { kind: 'url' };
  }
  if (url.protocol === 'https:') return undefined;
  if (url.protocol !== 'http:') return { kind: 'https' };
  // Over plain http the key would cross the network readable by anyone on the way: only this machine is safe.
  if (isLoopback(url.hostname) || allowInsecureHttp) return undefined;
  return { kind: 'notInsecureHttp' };
}

function redisUrlFault(value: string): Expected | undefined {
  if (value === '') return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { kind: 'redisUrl' };
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') return { kind: 'redisUrl' };
  if (url.password) return { kind: 'redisPassword' };
  return url.hostname ? undefined : { kind: 'redisUrl' };
}

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}

function parsePrices(value: unknown, problems: SettingProblem[]): PriceTable {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    problems.push({ key: 'prices', value, expected: { kind: 'prices' } });
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
      problems.push({ key: 'prices', value: price, expected: { kind: 'price', model } });
    }
  }
  return table;
}
