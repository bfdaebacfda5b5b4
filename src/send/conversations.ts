import { randomUUID } from 'node:crypto';
import type { Conversation, Exchange } from '../core/conversation';
import { Disposable, Emitter, Event } from '../core/event';
import { History } from '../core/history';

/** Where the history is kept between sessions (HistoryStore on disk; nothing in tests that need no disk). */
export interface HistoryPersistence {
  load(): Promise<History>;
  /** Saves soon; several changes in a row may make one write. */
  save(history: History): void;
  /** On the way out: whatever waits to be saved is written now. */
  flushNow(history: History): void;
}

/**
 * The conversations and their answers, with one owner: loaded in the background (a conversation
 * begun before the saved ones arrive is kept), saved after each change, and announced to whoever
 * shows them.
 */
export class Conversations implements Disposable {
  private history = new History();
  private readonly changed = new Emitter<void>();
  readonly onDidChange: Event<void> = this.changed.event;
  /** Resolves once the saved conversations are in. */
  readonly ready: Promise<void>;

  constructor(private readonly persistence?: HistoryPersistence) {
    this.ready = persistence
      ? persistence.load().then((loaded) => {
          for (const conversation of [...this.history.list()].reverse()) loaded.adopt(conversation);
          this.history = loaded;
          this.changed.fire();
        })
      : Promise.resolve();
  }

  get(id: string): Conversation | undefined {
    return this.history.get(id);
  }

  /** Most recently used first. */
  list(): readonly Conversation[] {
    return this.history.list();
  }

  /** The most recent conversation with an answer, if any. */
  latest(): Conversation | undefined {
    return this.history.list().find((c) => c.exchanges.length > 0);
  }

  start(title: string, systemPrompt: string, now: number): Conversation {
    const conversation = this.history.start(randomUUID(), title, systemPrompt, now);
    this.changed.fire();
    return conversation;
  }

  /** Keeps an answered exchange. */
  add(conversation: Conversation, exchange: Exchange): void {
    this.history.add(conversation, exchange);
    this.saved();
  }

  /** Forgets a conversation that never got an answer. */
  discard(conversation: Conversation): void {
    this.history.discard(conversation);
    this.changed.fire();
  }

  /** A conversation was changed in place (its oldest exchanges let go or summarised). */
  edited(): void {
    this.saved();
  }

  dispose(): void {
    this.persistence?.flushNow(this.history);
    this.changed.dispose();
  }

  private saved(): void {
    this.persistence?.save(this.history);
    this.changed.fire();
  }
}
