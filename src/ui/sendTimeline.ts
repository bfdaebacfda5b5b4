/** The moments of one send, from the command to the answer, for `npm run bench` to say where the time goes. */
export type SendPhase =
  /** The command ran (the clock starts here). */
  | 'command'
  /** The history had loaded (a fresh window loads it in the background). */
  | 'history'
  /** The key was read. */
  | 'key'
  /** The request was counted (the tokenizer loads on the first count). */
  | 'counted'
  /** The budget admitted it (at once, or after a wait in the queue). */
  | 'admitted'
  /** The request left for the server. */
  | 'requestLeft'
  /** The server's response began. */
  | 'responded'
  /** The answer had arrived in full. */
  | 'answered'
  /** The answer's editor was visible. */
  | 'shown'
  /** The answer was in the history and its editor showed the whole of it. */
  | 'recorded';

export interface SendTimelineView {
  readonly label: string;
  /** Milliseconds after the command, per phase reached (the first time it was reached). */
  readonly ms: Readonly<Partial<Record<SendPhase, number>>>;
}

export class SendTimeline {
  private readonly start = performance.now();
  private readonly marks: Partial<Record<SendPhase, number>> = { command: 0 };
  label = '';

  mark(phase: SendPhase): void {
    this.marks[phase] ??= performance.now() - this.start;
  }

  view(): SendTimelineView {
    return { label: this.label, ms: { ...this.marks } };
  }
}

/** The last sends' timelines, newest last. */
export class SendTimelines {
  private readonly kept: SendTimeline[] = [];

  constructor(private readonly max = 20) {}

  begin(): SendTimeline {
    const timeline = new SendTimeline();
    this.kept.push(timeline);
    if (this.kept.length > this.max) this.kept.shift();
    return timeline;
  }

  views(): SendTimelineView[] {
    return this.kept.map((t) => t.view());
  }
}
