import { Disposable, Emitter, Event } from '../core/event';

/** What this session's answers cost, by the server's counts. */
export class SessionCost implements Disposable {
  private total = 0;
  private allPriced = true;
  private readonly changed = new Emitter<void>();
  readonly onDidChange: Event<void> = this.changed.event;

  get usd(): number {
    return this.total;
  }

  /** False once an answer came from a model without a known price: the total is then a lower bound. */
  get known(): boolean {
    return this.allPriced;
  }

  /** An answer's cost; undefined when its model has no known price. */
  add(costUsd: number | undefined): void {
    if (costUsd === undefined) this.allPriced = false;
    else this.total += costUsd;
    this.changed.fire();
  }

  dispose(): void {
    this.changed.dispose();
  }
}
