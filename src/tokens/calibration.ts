/** Kimi frames each message as `<|im_user|>user<|im_middle|>…<|im_end|>`: three special tokens and the role name. */
export const FRAMING_TOKENS_PER_MESSAGE = 4;

/** Each new sample weighs 1, older ones this much less per later sample (~5 samples of memory). */
const DECAY = 0.8;
/** Kimi's vocabulary against o200k: no sane ratio falls outside this (a sample that does is capped). */
const MIN_RATIO = 0.5;
const MAX_RATIO = 2;

export interface PromptEstimate {
  tokens: number;
  calibrated: boolean;
  ratio: number;
}

/** Per model: decayed sums of the server's and the local counts of the same requests. */
export interface CalibrationState {
  [model: string]: { server: number; local: number; samples: number };
}

/**
 * Learns, per model, how the server's `usage.prompt_tokens` relates to the local o200k count of the
 * same request, and scales later estimates by it. The ratio is one of decayed sums, so a large
 * prompt weighs more than a short one and a drift (another language, a new model version) is
 * followed within a few answers.
 */
export class Calibration {
  // No prototype: a model id is data, so "toString" or "__proto__" must not find an inherited member.
  private readonly state: CalibrationState = Object.create(null);

  /** `state` is what toJSON returned, as read back from storage: entries that do not make sense are dropped. */
  constructor(state?: CalibrationState) {
    for (const [model, entry] of Object.entries(state ?? {})) {
      if (isPositive(entry?.server) && isPositive(entry?.local) && isPositive(entry?.samples)) {
        this.state[model] = { server: entry.server, local: entry.local, samples: Math.floor(entry.samples) };
      }
    }
  }

  /** `contentTokens`: sum of the local counts of each message's content. */
  estimate(model: string, contentTokens: number, messageCount: number): PromptEstimate {
    const calibrated = this.samples(model) > 0;
    const ratio = this.ratio(model);
    // The epsilon keeps float noise (1.1 × 100 = 110.00000000000001) from adding a token.
    const tokens = Math.max(0, Math.ceil(ratio * localTokens(contentTokens, messageCount) - 1e-9));
    return { tokens, calibrated, ratio };
  }

  /** Learns from an answer; samples with a non-positive or non-finite count on either side are ignored. */
  record(model: string, contentTokens: number, messageCount: number, serverPromptTokens: number): void {
    if (!(contentTokens >= 0) || !Number.isInteger(messageCount) || messageCount < 0) return;
    const local = localTokens(contentTokens, messageCount);
    if (!isPositive(local) || !isPositive(serverPromptTokens)) return;
    const server = clamp(serverPromptTokens, MIN_RATIO * local, MAX_RATIO * local);
    const previous = this.state[model] ?? { server: 0, local: 0, samples: 0 };
    this.state[model] = {
      server: previous.server * DECAY + server,
      local: previous.local * DECAY + local,
      samples: previous.samples + 1,
    };
  }

  /** Server tokens per local token for `model`; 1 until a sample exists. */
  ratio(model: string): number {
    const entry = this.state[model];
    return entry ? clamp(entry.server / entry.local, MIN_RATIO, MAX_RATIO) : 1;
  }

  samples(model: string): number {
    return this.state[model]?.samples ?? 0;
  }

  /** A copy of the state, for the UI layer to keep in globalState. */
  toJSON(): CalibrationState {
    const copy: CalibrationState = Object.create(null);
    for (const [model, entry] of Object.entries(this.state)) copy[model] = { ...entry };
    return copy;
  }
}

function localTokens(contentTokens: number, messageCount: number): number {
  return contentTokens + FRAMING_TOKENS_PER_MESSAGE * messageCount;
}

function isPositive(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}
