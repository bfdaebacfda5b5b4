/**
 * Context windows of the models Moonshot lists now (its model list, late 2026): the fallback when
 * the server's `GET /models` does not say (`context_length`). The line-up rotates — kimi-k2.5, the
 * K2 previews and turbo, kimi-k2-thinking(-turbo), kimi-latest and moonshot-v1-* answer 404 now — so
 * the server's list is asked first, always. See docs/models.md.
 */
const CONTEXT_WINDOWS: Readonly<Record<string, number>> = {
  'kimi-k3': 1_000_000,
  'kimi-k2.7-code': 262_144,
  'kimi-k2.7-code-highspeed': 262_144,
  'kimi-k2.6': 262_144,
};

/** The model's context window, or undefined for a model this extension does not know. */
export function contextWindowOf(model: string): number | undefined {
  return Object.hasOwn(CONTEXT_WINDOWS, model) ? CONTEXT_WINDOWS[model] : undefined; // a model named "toString" is unknown, not a function
}
