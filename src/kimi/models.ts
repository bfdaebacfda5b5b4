/** Context windows of the models Moonshot has published (the line-up rotates: see GET /models). */
const CONTEXT_WINDOWS: Readonly<Record<string, number>> = {
  'kimi-k2.6': 262_144,
  'kimi-k2.5': 262_144,
  'kimi-k2-0905-preview': 262_144,
  'kimi-k2-turbo-preview': 262_144,
  'kimi-k2-thinking': 262_144,
  'kimi-k2-thinking-turbo': 262_144,
  'kimi-k2-0711-preview': 131_072,
  'moonshot-v1-8k': 8_192,
  'moonshot-v1-32k': 32_768,
  'moonshot-v1-128k': 131_072,
};

/** The model's context window, or undefined for a model this extension does not know. */
export function contextWindowOf(model: string): number | undefined {
  return Object.hasOwn(CONTEXT_WINDOWS, model) ? CONTEXT_WINDOWS[model] : undefined; // a model named "toString" is unknown, not a function
}
