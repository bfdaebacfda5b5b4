import type { Answer, ChatCall, MoonshotModel } from '../moonshotModel';
import type { Random } from '../random';
import type { SimClock } from '../simClock';
import type { Prompt, Workload } from '../workloads';

/** The client under test, as the server's tallies name it (the teammate is 'teammate'). */
export const USER = 'user';

export interface SimContext {
  readonly clock: SimClock;
  readonly server: MoonshotModel;
  readonly workload: Workload;
  readonly random: Random;
  /** A prompt's answer has fully arrived at the client. */
  finished(prompt: Prompt, answer: Answer): void;
  /** The client gave a prompt up (the user then sends it again). */
  gaveUp(prompt: Prompt): void;
}

/** A way of getting the user's prompts through the account's limits. */
export interface Client {
  readonly name: string;
  /** What it is, for the report. */
  readonly description: string;
  /** Sets the client up; the returned function is called as each prompt arrives. */
  start(context: SimContext): (prompt: Prompt) => void;
  /** Sends the workload's teammate requests itself (else the run sends them, blind to the client). */
  readonly runsTeammate?: boolean;
  /** Reads Date.now and global timers (so the run points them at the simulated clock). */
  readonly usesGlobalTimers?: boolean;
}

export function callFor(prompt: Prompt, workload: Workload): ChatCall {
  return { client: USER, promptTokens: prompt.promptTokens, maxTokens: workload.maxTokens, outputTokens: prompt.outputTokens };
}

/** "1 s, 2 s, 4 s … up to 60 s", with ±25% jitter: what clients do when the server states no wait. */
export function exponentialBackoff(attempt: number, random: Random): number {
  return Math.min(60_000, 1_000 * 2 ** (attempt - 1)) * (0.75 + 0.5 * random());
}
