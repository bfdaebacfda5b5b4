// What the budget dashboard's page is sent each second, computed without `vscode` so that it is
// unit-tested: the budget now and the line always (small), the series and the costs only when
// they changed (the page keeps what it was sent).
import { LineTicket } from '../core/account';
import { AnswerStats } from '../core/answerStats';
import { BudgetSnapshot } from '../core/budget';
import { LearnedLimit, LimitName } from '../core/limits';
import { QueueEntryView } from '../core/sendQueue';
import { MINUTE_MS, UsageSeries } from '../core/usageSeries';
import { HostMessage, LineRow, Range } from '../webview/protocol';
import { BEHIND_EARLIER, DASHBOARD_WORDS, heldBy, WHOSE, describeLearned } from './words';

export interface DashboardSources {
  readonly series: UsageSeries;
  readonly stats: AnswerStats;
  /** The account's budget, as the status bar shows it. */
  readonly snapshot: () => BudgetSnapshot & { readonly learned?: readonly LearnedLimit[] };
  /** This window's sends, running then waiting in order. */
  readonly entries: () => readonly QueueEntryView[];
  /** The account's line, every window's tickets in order. */
  readonly tickets: () => readonly LineTicket[];
  /** This window, as its tickets name it. */
  readonly holder: () => string;
  /** Whether a ticket's window is on this machine (a team's budget has windows of other machines too). */
  readonly sameMachine?: (holder: string) => boolean;
  readonly heldBy: () => LimitName | 'line' | 'serverPause' | undefined;
  readonly now: () => number;
}

export const RANGE_MINUTES: Readonly<Record<Range, number>> = { hour: 60, day: 24 * 60 };
/** Days of cost per day shown. */
const COST_DAYS = 30;

export class DashboardFeed {
  private range: Range = 'hour';
  /** What the page was last sent: the series' version, its first minute and the limits; the stats' version. */
  private sentSeries = '';
  private sentStats = -1;

  constructor(private readonly sources: DashboardSources) {}

  /** The page's words, sent first. */
  init(): HostMessage {
    return { type: 'init', words: DASHBOARD_WORDS };
  }

  /** The page was (re)loaded or asked for another range: the next update carries everything. */
  reset(range: Range = this.range): void {
    this.range = range;
    this.sentSeries = '';
    this.sentStats = -1;
  }

  /** The next update: the series and costs only when they changed since the last one. */
  next(): HostMessage {
    const s = this.sources;
    const now = s.now();
    const snapshot = s.snapshot();
    const { requestsPerMinute, tokensPerMinute, tokensPerDay } = snapshot.limits;
    const entries = s.entries();
    const waiting = entries.filter((e) => e.state === 'waiting');
    const minutes = RANGE_MINUTES[this.range];
    const first = Math.floor(now / MINUTE_MS) - minutes + 1;
    const seriesKey = `${s.series.version}:${first}:${this.range}:${requestsPerMinute}:${tokensPerMinute}`;
    const message: HostMessage = {
      type: 'update',
      now: {
        at: now,
        requestsLeft: Math.max(0, requestsPerMinute - snapshot.requestsUsed),
        requestsPerMinute,
        tokensLeft: Math.max(0, tokensPerMinute - snapshot.tokensUsed),
        tokensPerMinute,
        queued: waiting.length,
        inFlight: snapshot.inFlight,
        tokensToday: snapshot.tokensUsedToday,
        tokensPerDay,
        learned: (snapshot.learned ?? []).map((l) => describeLearned(l, now)),
      },
      line: this.line(entries, now),
    };
    if (seriesKey !== this.sentSeries) {
      this.sentSeries = seriesKey;
      const view = s.series.view(first * MINUTE_MS, now + 1);
      Object.assign(message, { series: { range: this.range, stepMs: MINUTE_MS, ...view, requestsPerMinute, tokensPerMinute } });
    }
    if (s.stats.version !== this.sentStats) {
      this.sentStats = s.stats.version;
      Object.assign(message, {
        costs: { days: s.stats.costPerDay(now, COST_DAYS), models: s.stats.costPerModel(now, COST_DAYS) },
        accuracy: s.stats.estimateAccuracy().map((a) => ({
          model: a.model,
          answers: a.answers,
          meanErrorPercent: a.meanErrorPercent,
          meanAbsoluteErrorPercent: a.meanAbsoluteErrorPercent,
          lastEstimated: a.last.at(-1)?.estimated ?? 0,
          lastServer: a.last.at(-1)?.server ?? 0,
        })),
      });
    }
    return message;
  }

  /** Running sends, then the account's line in order: this window's with their ETA, other windows' by size. */
  private line(entries: readonly QueueEntryView[], now: number): LineRow[] {
    const s = this.sources;
    const rows: LineRow[] = entries
      .filter((e) => e.state === 'running')
      .map((e) => ({ label: e.label, tokens: e.tokens, etaSeconds: 0, heldBy: '', whose: WHOSE.here, running: true }));
    const mine = entries.filter((e) => e.state === 'waiting');
    const holder = s.holder();
    const head = s.heldBy();
    let next = 0;
    const push = (row: Omit<LineRow, 'heldBy' | 'running'>) =>
      rows.push({ ...row, running: false, heldBy: rows.some((r) => !r.running) ? BEHIND_EARLIER : head ? heldBy(head) : '' });
    for (const ticket of s.tickets()) {
      if (ticket.holder !== holder) {
        const here = s.sameMachine?.(ticket.holder) ?? true;
        push({ label: '—', tokens: ticket.tokens, etaSeconds: null, whose: here ? WHOSE.otherWindow : WHOSE.teammate });
      } else if (next < mine.length) {
        const e = mine[next++];
        push({ label: e.label, tokens: e.tokens, etaSeconds: etaSeconds(e.eta, now), whose: WHOSE.here });
      }
    }
    for (const e of mine.slice(next)) push({ label: e.label, tokens: e.tokens, etaSeconds: etaSeconds(e.eta, now), whose: WHOSE.here });
    return rows;
  }
}

function etaSeconds(eta: number | undefined, now: number): number | null {
  return eta === undefined ? null : Math.max(0, Math.ceil((eta - now) / 1000));
}
