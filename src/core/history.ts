import { Conversation, Exchange } from './conversation';

export interface HistoryLimits {
  readonly maxConversations: number;
  /** Serialized size of all conversations together. */
  readonly maxBytes: number;
}

export const DEFAULT_HISTORY_LIMITS: HistoryLimits = { maxConversations: 200, maxBytes: 8_000_000 };

/**
 * Every conversation and its answers, most recently used first, bounded in count and size (the
 * oldest go first). Holds no key: only prompts, answers, models, usage and cost.
 */
export class History {
  private conversations: Conversation[] = [];

  constructor(private readonly limits: HistoryLimits = DEFAULT_HISTORY_LIMITS) {}

  /** A history from what toJSON wrote; entries that do not have the expected shape are skipped. */
  static restore(saved: unknown, limits: HistoryLimits = DEFAULT_HISTORY_LIMITS): History {
    const history = new History(limits);
    const list = Array.isArray((saved as { conversations?: unknown })?.conversations)
      ? (saved as { conversations: unknown[] }).conversations
      : [];
    history.conversations = list.filter(isConversation).map((c) => ({ ...c, exchanges: c.exchanges.filter(isExchange) }));
    history.bound();
    return history;
  }

  start(id: string, title: string, systemPrompt: string, now: number): Conversation {
    const conversation: Conversation = { id, title, systemPrompt, exchanges: [], firstSent: 0, createdAt: now, updatedAt: now };
    this.conversations.unshift(conversation);
    this.bound();
    return conversation;
  }

  /** Takes in a conversation begun elsewhere (before this history was loaded), most recent first. */
  adopt(conversation: Conversation): void {
    if (this.get(conversation.id)) return;
    this.conversations.unshift(conversation);
    this.bound();
  }

  /**
   * Takes in the conversations another window kept that this one does not have (by id), so that
   * two windows saving one file do not drop each other's. A conversation both have stays as this
   * window has it. Most recently used first, bounded as always.
   */
  mergeFrom(other: History): void {
    const missing = other.list().filter((c) => !this.get(c.id));
    if (!missing.length) return;
    this.conversations = [...this.conversations, ...missing].sort((a, b) => b.updatedAt - a.updatedAt);
    this.bound();
  }

  /** Forgets a conversation that never got an answer (its first send was refused or cancelled). */
  discard(conversation: Conversation): void {
    if (conversation.exchanges.length === 0) this.conversations = this.conversations.filter((c) => c !== conversation);
  }

  get(id: string): Conversation | undefined {
    return this.conversations.find((c) => c.id === id);
  }

  /** Most recently used first. */
  list(): readonly Conversation[] {
    return this.conversations;
  }

  /** Records an answered exchange and moves its conversation to the front. */
  add(conversation: Conversation, exchange: Exchange): void {
    conversation.exchanges.push(exchange);
    conversation.updatedAt = exchange.at;
    this.conversations = [conversation, ...this.conversations.filter((c) => c !== conversation)];
    this.bound();
  }

  toJSON(): { conversations: Conversation[] } {
    return { conversations: this.conversations.filter((c) => c.exchanges.length > 0) };
  }

  private bound(): void {
    this.conversations = this.conversations.slice(0, this.limits.maxConversations);
    let bytes = 0;
    const kept = this.conversations.findIndex((c) => (bytes += JSON.stringify(c).length) > this.limits.maxBytes);
    // The most recent conversation is always kept, however large.
    if (kept >= 0) this.conversations = this.conversations.slice(0, Math.max(1, kept));
  }
}

function isConversation(value: unknown): value is Conversation {
  const c = value as Conversation;
  return (
    typeof c?.id === 'string' &&
    typeof c.title === 'string' &&
    typeof c.systemPrompt === 'string' &&
    Array.isArray(c.exchanges) &&
    Number.isInteger(c.firstSent) &&
    c.firstSent >= 0 &&
    typeof c.createdAt === 'number' &&
    typeof c.updatedAt === 'number' &&
    (c.summary === undefined || typeof c.summary === 'string')
  );
}

function isExchange(value: unknown): value is Exchange {
  const e = value as Exchange;
  return (
    typeof e?.prompt === 'string' &&
    typeof e.answer === 'string' &&
    typeof e.reasoning === 'string' &&
    typeof e.at === 'number' &&
    typeof e.model === 'string'
  );
}
