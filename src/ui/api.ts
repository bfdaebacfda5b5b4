import { ShownMessage } from './notifier';
import { SendTimelineView } from './sendTimeline';

/**
 * What `activate()` returns: a read-only view of what the extension shows, for its integration
 * tests and for other extensions. It holds no key and changes nothing.
 */
export interface KimiBudgetApi {
  /** How long activate() took, and whether the tokenizer had been started by its end (it must not be). */
  readonly activation: { readonly ms: number; readonly tokenizerStarted: boolean };
  /** The accessibility labels of the two status bar items, as currently shown. */
  statusLabels(): { budget: string; selection: string | undefined };
  /** The budget item's tooltip (Markdown), as it would be shown now. */
  budgetTooltip(): string;
  /** The last messages shown to the user, oldest first. */
  messages(): readonly ShownMessage[];
  /** Whether the tokenizer's worker has been started (it is not, at activation). */
  tokenizerStarted(): boolean;
  /** Running and waiting sends, in order. */
  queue(): { id: number; label: string; state: 'waiting' | 'running' }[];
  /** The calibration of local counts to the model's: what the selection's count is multiplied by, once answers taught it. */
  calibration(model: string): { readonly ratio: number; readonly samples: number };
  /** Where the time of the last sends went, from the command to the answer, oldest first. */
  sendTimelines(): SendTimelineView[];
  /** Which chat parts this window has: the `kimi` language model provider and `@kimi` (VS Code 1.104 and later only). */
  chat(): { provider: boolean; participant: boolean };
  /** The extension's count of `text` for `model` (default: the configured one), as the selection item shows it. */
  countTokens(text: string, model?: string): Promise<number>;
}
