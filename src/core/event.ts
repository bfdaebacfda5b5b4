/** Something to let go of: a listener, a timer, a resource. Shaped like VS Code's, so either fits. */
export interface Disposable {
  dispose(): void;
}

/** Subscribes a listener, VS Code style: `onDidChange(listener)` returns what unsubscribes it. */
export type Event<T> = (listener: (value: T) => void) => Disposable;

/** Owns a set of listeners and fires them; `event` is what a class exposes as its `onDid…`. */
export class Emitter<T> implements Disposable {
  private readonly listeners = new Set<(value: T) => void>();

  readonly event: Event<T> = (listener) => {
    // A wrapper per subscription, so that the same function subscribed twice is called twice.
    const subscription = (value: T): void => listener(value);
    this.listeners.add(subscription);
    return { dispose: () => void this.listeners.delete(subscription) };
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }

  dispose(): void {
    this.listeners.clear();
  }
}
