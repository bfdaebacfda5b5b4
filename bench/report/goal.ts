/** One of the benchmark's goals, judged on this run's figures. */
export interface Goal {
  readonly goal: string;
  readonly met: boolean;
  /** The figures the verdict rests on. */
  readonly measured: string;
  /** For a goal not met: what holds it back, as far as the run shows. */
  readonly limitedBy?: string;
}

export function verdict(goal: Goal): string {
  return goal.met ? 'met' : 'NOT met';
}
