/**
 * A conversation with the model: what was asked and answered, in order. Every follow-up resends the
 * part still in play, so its cost grows with each turn; this is where that cost is assembled and
 * where the oldest turns are let go when the model's context window would overflow.
 */
export interface ChatTurn {
  readonly role: 'system' | 'user' | 'assistant';
  readonly content: string;
}

export interface Exchange {
  /** The user's message as sent (with any file context). */
  readonly prompt: string;
  readonly answer: string;
  readonly reasoning: string;
  readonly at: number;
  readonly model: string;
  readonly usage?: { readonly promptTokens: number; readonly completionTokens: number; readonly cachedTokens?: number };
  readonly costUsd?: number;
  readonly finishReason?: string;
  /** How many attempts it took, when more than one (the server refused or failed before). */
  readonly attempts?: number;
}

export interface Conversation {
  readonly id: string;
  title: string;
  /** The system prompt in force when the conversation began; follow-ups keep it. */
  readonly systemPrompt: string;
  exchanges: Exchange[];
  /** Exchanges before this index are no longer sent (dropped or summarised to fit the context window). */
  firstSent: number;
  /** What replaced the exchanges before `firstSent`, when they were summarised. */
  summary?: string;
  readonly createdAt: number;
  updatedAt: number;
}

export const SUMMARY_PREFIX = 'Summary of the earlier part of this conversation:\n';

/** The messages a request carries: system prompt, summary, the exchanges still in play, the new prompt. */
export function requestMessages(conversation: Conversation, prompt: string): ChatTurn[] {
  const messages: ChatTurn[] = [];
  if (conversation.systemPrompt) messages.push({ role: 'system', content: conversation.systemPrompt });
  if (conversation.summary) messages.push({ role: 'system', content: SUMMARY_PREFIX + conversation.summary });
  for (const exchange of conversation.exchanges.slice(conversation.firstSent)) {
    messages.push({ role: 'user', content: exchange.prompt }, { role: 'assistant', content: exchange.answer });
  }
  messages.push({ role: 'user', content: prompt });
  return messages;
}

/** How a request stands against the context window, and what letting go of the oldest turns frees. */
export interface Fit {
  /** Tokens of the request (every message with its framing) plus max_tokens. */
  readonly total: number;
  readonly fits: boolean;
  /** The fewest oldest exchanges to let go of so that the request fits; undefined when it fits, or when nothing would do. */
  readonly dropOldest?: { readonly exchanges: number; readonly freesTokens: number };
}

/**
 * `messageTokens` are the estimated tokens of each message of `requestMessages` (framing included),
 * in the same order; `leading` of them (system prompt, summary) are never dropped, and the last is
 * the new prompt. Each exchange is two messages.
 */
export function fitContext(messageTokens: readonly number[], leading: number, maxTokens: number, contextWindow: number | undefined): Fit {
  const total = messageTokens.reduce((a, b) => a + b, 0) + maxTokens;
  if (contextWindow === undefined || total <= contextWindow) return { total, fits: true };
  const exchanges = (messageTokens.length - leading - 1) / 2;
  let freed = 0;
  for (let n = 1; n <= exchanges; n++) {
    freed += messageTokens[leading + 2 * (n - 1)] + messageTokens[leading + 2 * (n - 1) + 1];
    if (total - freed <= contextWindow) return { total, fits: false, dropOldest: { exchanges: n, freesTokens: freed } };
  }
  return { total, fits: false };
}

/** The request that summarises the first `count` exchanges still in play, to replace them. */
export function summaryRequest(conversation: Conversation, count: number): ChatTurn[] {
  const turns = conversation.exchanges.slice(conversation.firstSent, conversation.firstSent + count);
  const transcript = turns.map((e) => `User: ${e.prompt}\n\nAssistant: ${e.answer}`).join('\n\n---\n\n');
  const earlier = conversation.summary ? `${SUMMARY_PREFIX}${conversation.summary}\n\n---\n\n` : '';
  return [
    {
      role: 'system',
      content:
        'Summarise the conversation below so that it can replace it as context for its continuation. Keep facts, names, numbers, code identifiers, decisions and open questions; drop pleasantries. Write at most 300 words.',
    },
    { role: 'user', content: earlier + transcript },
  ];
}

/** Lets go of the first `count` exchanges still in play, replacing them by `summary` when given. */
export function dropOldest(conversation: Conversation, count: number, summary?: string): void {
  conversation.firstSent = Math.min(conversation.exchanges.length, conversation.firstSent + count);
  conversation.summary = summary ?? conversation.summary;
}
