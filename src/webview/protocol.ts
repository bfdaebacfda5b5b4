// The messages between the extension and the dashboard's page, typed once for both sides. What the
// page sends is checked before the extension acts on it: the page is another process's code.

export type Range = 'hour' | 'day';
export const RANGES: readonly Range[] = ['hour', 'day'];

/** The budget now, as the status bar counts it. */
export interface NowView {
  readonly at: number;
  readonly requestsLeft: number;
  readonly requestsPerMinute: number;
  readonly tokensLeft: number;
  readonly tokensPerMinute: number;
  readonly queued: number;
  readonly inFlight: number;
  readonly tokensToday: number;
  /** 0: no daily limit. */
  readonly tokensPerDay: number;
  /** The limits Moonshot stated in refusals and the budget keeps to, each in a sentence. */
  readonly learned?: readonly string[];
}

/** A send in the account's line. */
export interface LineRow {
  readonly label: string;
  readonly tokens: number;
  /** Seconds until it is expected to go; null while that depends on a running send. */
  readonly etaSeconds: number | null;
  /** The limit holding it, in words. */
  readonly heldBy: string;
  /** Whose send it is, in words (this window, another window). */
  readonly whose: string;
  readonly running: boolean;
}

/** Per-minute (or coarser) usage over a range, one array per series, all of the same length. */
export interface SeriesView {
  readonly range: Range;
  readonly stepMs: number;
  readonly at: readonly number[];
  readonly requests: readonly number[];
  readonly tokens: readonly number[];
  readonly refusals: readonly number[];
  readonly pausedMs: readonly number[];
  readonly queue: readonly number[];
  readonly meanWaitMs: readonly number[];
  readonly requestsPerMinute: number;
  readonly tokensPerMinute: number;
}

export interface CostsView {
  readonly days: readonly { readonly day: number; readonly usd: number; readonly answers: number }[];
  readonly models: readonly { readonly model: string; readonly usd: number; readonly answers: number; readonly unpriced: number }[];
}

export interface AccuracyRow {
  readonly model: string;
  readonly answers: number;
  readonly meanErrorPercent: number;
  readonly meanAbsoluteErrorPercent: number;
  readonly lastEstimated: number;
  readonly lastServer: number;
}

/** Every word the page shows, given by the extension (its words live in one place). */
export interface DashboardWords {
  readonly title: string;
  readonly hour: string;
  readonly day: string;
  readonly zoomHint: string;
  readonly usage: string;
  readonly requestsChart: string;
  readonly tokensChart: string;
  readonly lineChart: string;
  readonly requests: string;
  readonly tokens: string;
  readonly limit: string;
  readonly refusals: string;
  readonly paused: string;
  readonly queue: string;
  readonly meanWait: string;
  readonly minute: string;
  readonly usageTable: string;
  readonly usageTableEmpty: string;
  /** The disclosure that holds the usage charts' table. */
  readonly usageNumbers: string;
  readonly now: string;
  readonly nowTable: string;
  readonly left: string;
  readonly used: string;
  readonly requestsPerMinute: string;
  readonly tokensPerMinute: string;
  readonly tokensToday: string;
  readonly noDailyLimit: string;
  readonly queued: string;
  readonly inFlight: string;
  readonly line: string;
  readonly lineTable: string;
  readonly lineEmpty: string;
  readonly send: string;
  readonly eta: string;
  readonly heldBy: string;
  readonly whose: string;
  readonly running: string;
  readonly afterRunning: string;
  readonly costs: string;
  readonly costChart: string;
  readonly costTable: string;
  readonly modelTable: string;
  readonly date: string;
  readonly usd: string;
  readonly answers: string;
  readonly model: string;
  readonly unpriced: string;
  readonly accuracy: string;
  readonly accuracyTable: string;
  readonly accuracyEmpty: string;
  readonly meanError: string;
  readonly meanAbsoluteError: string;
  readonly lastEstimate: string;
  readonly lastServer: string;
}

export type HostMessage =
  | { readonly type: 'init'; readonly words: DashboardWords }
  | {
      readonly type: 'update';
      readonly now: NowView;
      readonly line: readonly LineRow[];
      /** Sent when the series changed or another range was asked for. */
      readonly series?: SeriesView;
      /** Sent when an answer changed them. */
      readonly costs?: CostsView;
      readonly accuracy?: readonly AccuracyRow[];
    };

export type PageMessage =
  /** The page has loaded and listens: send it everything. */
  | { readonly type: 'ready' }
  /** The reader chose another range. */
  | { readonly type: 'range'; readonly range: Range }
  /** How long the page took to draw the last update's series, for the measurements. */
  | { readonly type: 'drawn'; readonly ms: number; readonly points: number };

/** A message from the page, or undefined when it is not one this protocol knows. */
export function parsePageMessage(value: unknown): PageMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  switch (m.type) {
    case 'ready':
      return { type: 'ready' };
    case 'range':
      return RANGES.includes(m.range as Range) ? { type: 'range', range: m.range as Range } : undefined;
    case 'drawn':
      return isCount(m.ms) && isCount(m.points) ? { type: 'drawn', ms: m.ms, points: m.points } : undefined;
    default:
      return undefined;
  }
}

/** A message from the extension, or undefined when it does not have the expected shape. */
export function parseHostMessage(value: unknown): HostMessage | undefined {
  if (typeof value !== 'object' || value === null) return undefined;
  const m = value as Record<string, unknown>;
  if (m.type === 'init') return typeof m.words === 'object' && m.words !== null ? (value as HostMessage) : undefined;
  if (m.type !== 'update' || typeof m.now !== 'object' || m.now === null || !Array.isArray(m.line)) return undefined;
  const series = m.series as SeriesView | undefined;
  if (series !== undefined) {
    const n = series.at?.length;
    const arrays = [series.requests, series.tokens, series.refusals, series.pausedMs, series.queue, series.meanWaitMs];
    if (!RANGES.includes(series.range) || !Array.isArray(series.at) || arrays.some((a) => !Array.isArray(a) || a.length !== n))
      return undefined;
  }
  return value as HostMessage;
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
