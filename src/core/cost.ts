/** USD per million tokens. */
export interface Price {
  readonly input: number;
  readonly cachedInput: number;
  readonly output: number;
}

export type PriceTable = Readonly<Record<string, Price>>;

/** Published or reported prices (2026); settings override them, since they change. */
export const BUILT_IN_PRICES: PriceTable = {
  'kimi-k2.6': { cachedInput: 0.16, input: 0.95, output: 4.0 },
  'kimi-k2.5': { cachedInput: 0.1, input: 0.6, output: 3.0 },
  'kimi-k2-0905-preview': { cachedInput: 0.15, input: 0.6, output: 2.5 },
  'kimi-k2-0711-preview': { cachedInput: 0.15, input: 0.6, output: 2.5 },
  'kimi-k2-thinking': { cachedInput: 0.15, input: 0.6, output: 2.5 },
  'kimi-k2-turbo-preview': { cachedInput: 0.15, input: 1.15, output: 8.0 },
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
