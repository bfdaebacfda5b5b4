import type { ChatTurn } from '../core/conversation';
import { Calibration, FRAMING_TOKENS_PER_MESSAGE } from './calibration';
import type { TokenCount } from './protocol';

export interface RequestEstimate {
  /** Estimated server tokens of each message, framing included, calibrated. */
  readonly perMessage: readonly number[];
  /** Estimated server tokens of the whole request (what Moonshot will charge, before max_tokens). */
  readonly tokens: number;
  /** Sum of the local counts of the contents, as Calibration.record wants it. */
  readonly contentTokens: number;
  readonly calibrated: boolean;
}

/** Counts every message of a request and scales the counts by what the server taught for `model`. */
export async function estimateRequest(
  count: (text: string) => Promise<TokenCount>,
  calibration: Calibration,
  model: string,
  messages: readonly ChatTurn[],
): Promise<RequestEstimate> {
  const local = await Promise.all(messages.map((m) => count(m.content).then((c) => c.tokens)));
  const contentTokens = local.reduce((a, b) => a + b, 0);
  const { tokens, calibrated, ratio } = calibration.estimate(model, contentTokens, messages.length);
  const perMessage = local.map((t) => Math.ceil(ratio * (t + FRAMING_TOKENS_PER_MESSAGE)));
  return { perMessage, tokens, contentTokens, calibrated };
}
