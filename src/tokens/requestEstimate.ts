import type { ChatTurn } from '../core/conversation';
import { Calibration, FRAMING_TOKENS_PER_MESSAGE } from './calibration';
import type { TokenCount } from './protocol';

export interface RequestEstimate {
  /** Estimated server tokens of each message, framing included, calibrated. */
  readonly perMessage: readonly number[];
  /** Estimated server tokens of the whole request (what Moonshot will charge, before max_tokens). */
  readonly tokens: number;
  /** Sum of the local counts of the contents (and of the tool schemas), as Calibration.record wants it. */
  readonly contentTokens: number;
  /** How many framed parts the request has, as Calibration.record wants it: its messages, and the tool schemas as one more. */
  readonly parts: number;
  readonly calibrated: boolean;
}

/** A message as counted: its text, and the calls of tools it carries (their names and arguments are sent too). */
export interface CountedMessage {
  readonly content: string;
  readonly toolCalls?: readonly { readonly name: string; readonly input: unknown }[];
}

/** A tool offered with the request: its schema is sent, and charged, with every request that offers it. */
export interface CountedTool {
  readonly name: string;
  readonly description: string;
  readonly parameters?: object;
}

/** The text of a message that the server counts: its content, then each tool call's name and arguments. */
export function countedText(message: CountedMessage): string {
  const calls = (message.toolCalls ?? []).map((call) => `${call.name}${JSON.stringify(call.input)}`);
  return [message.content, ...calls].filter((part) => part !== '').join('\n');
}

/** The tool schemas as they travel, for counting. */
export function toolsText(tools: readonly CountedTool[]): string {
  return tools.length ? JSON.stringify(tools.map(({ name, description, parameters }) => ({ name, description, parameters }))) : '';
}

/**
 * Counts every message of a request (and the schemas of the tools it offers) and scales the counts
 * by what the server taught for `model`.
 */
export async function estimateRequest(
  count: (text: string) => Promise<TokenCount>,
  calibration: Calibration,
  model: string,
  messages: readonly (ChatTurn | CountedMessage)[],
  tools: readonly CountedTool[] = [],
): Promise<RequestEstimate> {
  const [local, schemas] = await Promise.all([
    Promise.all(messages.map((m) => count(countedText(m)).then((c) => c.tokens))),
    tools.length ? count(toolsText(tools)).then((c) => c.tokens) : Promise.resolve(0),
  ]);
  const contentTokens = local.reduce((a, b) => a + b, schemas);
  const parts = messages.length + (tools.length ? 1 : 0);
  const { tokens, calibrated, ratio } = calibration.estimate(model, contentTokens, parts);
  const perMessage = local.map((t) => Math.ceil(ratio * (t + FRAMING_TOKENS_PER_MESSAGE)));
  return { perMessage, tokens, contentTokens, parts, calibrated };
}
