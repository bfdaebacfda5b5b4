/** USD per million tokens. */
export interface Price {
  readonly input: number;
  readonly cachedInput: number;
  readonly output: number;
}

export type PriceTable = Readonly<Record<string, Price>>;

/**
 * Prices of the models Moonshot lists now (its pricing pages and price trackers, late 2026; see
 * docs/models.md); settings override them, since they change. Cache writes, which Moonshot bills
 * apart since 2026 for models with explicit caching, are not in any answer's usage this extension
 * has seen, so they are not counted.
 */
export const BUILT_IN_PRICES: PriceTable = {
  'kimi-k3': { cachedInput: 0.3, input: 3.0, output: 15.0 },
  'kimi-k2.7-code': { cachedInput: 0.19, input: 0.95, output: 4.0 },
  'kimi-k2.7-code-highspeed': { cachedInput: 0.38, input: 1.9, output: 8.0 },
  'kimi-k2.6': { cachedInput: 0.16, input: 0.95, output: 4.0 },
};

export function priceOf(model: string, overrides: PriceTable): Price | undefined {
  const own = (table: PriceTable) => (Object.hasOwn(table, model) ? table[model] : undefined); // not Object.prototype's members
  return own(overrides) ?? own(BUILT_IN_PRICES);
}

/** The most a send can cost: every prompt token uncached, every output token used. */
export function maxCost(price: Price, promptTokens: number, maxTokens: number): number {
  return (promptTokens * price.input + maxTokens * price.output) / 1e6;
}

/** What an answered send cost, from the server's usage. */
export function actualCost(price: Price, usage: { promptTokens: number; completionTokens: number; cachedTokens?: number }): number {
  const cached = Math.min(usage.cachedTokens ?? 0, usage.promptTokens);
  return ((usage.promptTokens - cached) * price.input + cached * price.cachedInput + usage.completionTokens * price.output) / 1e6;
}
