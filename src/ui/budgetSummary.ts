// What the budget status item says, computed without `vscode` so that it is unit-tested.
import { AccountSnapshot } from '../core/account';
import { BudgetSnapshot } from '../core/budget';
import { LEARNED_FOR_MS, LearnedLimit, LimitName } from '../core/limits';
import { QueueEntryView, ServerRefusal } from '../core/sendQueue';
import { compact, DASHBOARD_LINK, describeLearned, duration, formatCount, formatUsd, heldBy, LIMITS, roughly } from './words';

/** How close the budget is to empty: the status bar item's colour. */
export type Pressure = 'normal' | 'warning' | 'error';

export interface BudgetSummary {
  /** The contract's accessibility label. */
  readonly label: string;
  /** Short status bar text (codicons allowed). */
  readonly text: string;
  readonly pressure: Pressure;
  /** Markdown breakdown for the tooltip. */
  readonly tooltip: string;
  /** When the numbers change by themselves next: a unit comes back, or a waiting send's ETA ticks. */
  readonly refreshInMs: number | undefined;
}

export interface SummaryInput {
  /** The account's budget; what is known of the other windows that share it, when any do. */
  readonly snapshot: BudgetSnapshot & Partial<Omit<AccountSnapshot, keyof BudgetSnapshot>>;
  /** Sends of other windows waiting in the account's line. */
  readonly othersWaiting?: number;
  readonly entries: readonly QueueEntryView[];
  readonly heldBy: LimitName | 'line' | 'serverPause' | undefined;
  readonly refusal: ServerRefusal | undefined;
  readonly now: number;
  readonly model: string;
  readonly calibration: { ratio: number; samples: number };
  readonly sessionCostUsd: number;
  readonly sessionCostKnown: boolean;
}

export function summarize(input: SummaryInput): BudgetSummary {
  const { snapshot: s, entries, now } = input;
  const { requestsPerMinute: R, tokensPerMinute: T, concurrency, tokensPerDay } = s.limits;
  const r = Math.max(0, R - s.requestsUsed);
  const t = Math.max(0, T - s.tokensUsed);
  const waiting = entries.filter((e) => e.state === 'waiting');
  const running = entries.filter((e) => e.state === 'running');
  const q = waiting.length;
  const headEta = waiting[0]?.eta;

  let text = `$(pulse) ${r}/${R} req · ${compact(t)}/${compact(T)} tok`;
  if (q) text += ` · $(clock) ${q} queued${headEta === undefined ? '' : `, next ${duration(headEta - now)}`}`;
  if (s.team && !s.team.connected) text += ' · $(debug-disconnect) team budget offline';

  const lowest = Math.min(r / R, t / T);
  const pressure: Pressure = q > 0 || r === 0 || t === 0 ? 'error' : lowest < 0.2 || (s.team && !s.team.connected) ? 'warning' : 'normal';

  const rows = [
    '| | limit | spent | left |',
    '|---|---:|---:|---:|',
    `| requests / min | ${formatCount(R)} | ${formatCount(s.requestsUsed)} | ${formatCount(r)} |`,
    `| tokens / min | ${formatCount(T)} | ${formatCount(s.tokensUsed)} | ${formatCount(t)} |`,
  ];
  if (tokensPerDay > 0)
    rows.push(
      `| tokens / day | ${formatCount(tokensPerDay)} | ${formatCount(s.tokensUsedToday)} | ${formatCount(Math.max(0, tokensPerDay - s.tokensUsedToday))} |`,
    );
  rows.push(
    `| in flight | ${concurrency > 0 ? formatCount(concurrency) : 'no limit'} | ${formatCount(s.inFlight)} | ${concurrency > 0 ? formatCount(Math.max(0, concurrency - s.inFlight)) : '—'} |`,
  );

  const lines = ['**Kimi budget** — a send costs its prompt tokens + max output tokens, taken when it goes out', '', ...rows, ''];
  lines.push(...learnedLines(s.learned ?? [], now));
  lines.push(...sharingLines(s));
  if (s.nextReturnAt !== undefined) lines.push(`Next unit comes back in ${duration(s.nextReturnAt - now)}.`, '');
  for (const [limit, share] of Object.entries(s.shares) as [keyof typeof s.shares, number][]) {
    if (share < 1)
      lines.push(
        `Moonshot refused for ${LIMITS[limit].name} while this count had room: another client seems to share the account. Using ${Math.round(share * 100)}% of it for now, growing back while no refusal comes.`,
        '',
      );
  }
  const others = input.othersWaiting ? ` (and ${input.othersWaiting} of other windows)` : '';
  lines.push(
    `Queued: ${q}${others}${running.length ? `, running: ${running.length}` : ''}${input.heldBy ? ` — held by ${heldBy(input.heldBy)}` : ''}`,
  );
  for (const e of waiting.slice(0, 5))
    lines.push(
      `- ${escape(e.label)} · ${formatCount(e.tokens)} tokens · ${e.eta === undefined ? 'after a running send' : `in ${duration(e.eta - now)}`}`,
    );
  if (waiting.length > 5) lines.push(`- … and ${waiting.length - 5} more`);
  if (input.refusal) {
    const ago = duration(now - input.refusal.at);
    lines.push(
      '',
      `Last server refusal ${ago} ago: ${escape(input.refusal.evidence)}${input.refusal.until > now ? ` — paused for ${duration(input.refusal.until - now)}` : ''}`,
    );
  }
  const { ratio, samples } = input.calibration;
  lines.push(
    '',
    samples > 0
      ? `Token counts for ${escape(input.model)}: o200k stand-in × ${ratio.toFixed(3)}, calibrated on ${samples} answer${samples === 1 ? '' : 's'}.`
      : `Token counts for ${escape(input.model)}: o200k stand-in, not yet calibrated (≈).`,
  );
  lines.push(
    `Session cost: ${formatUsd(input.sessionCostUsd)}${input.sessionCostKnown ? '' : ' (some models have no price: see kimiBudget.prices)'}`,
  );
  lines.push('', `Click to see the queue. [${DASHBOARD_LINK}](command:kimiBudget.showDashboard)`);

  return {
    label: `Kimi budget: ${r} of ${R} requests, ${t} of ${T} tokens left; ${q} queued`,
    text,
    pressure,
    tooltip: lines.join('\n'),
    refreshInMs: q > 0 ? 1000 : s.nextReturnAt === undefined ? undefined : Math.max(0, s.nextReturnAt - now),
  };
}

/** The limits the server stated, when and in what words, and how to let them go. */
function learnedLines(learned: readonly LearnedLimit[], now: number): string[] {
  if (!learned.length) return [];
  const lines = learned.map((l) => `- ${escape(describeLearned(l, now))}`);
  return [
    `Limits Moonshot stated in its refusals (they apply where smaller than the settings, for ${roughly(LEARNED_FOR_MS)} each; "Kimi: Forget Learned Limits" lets them go at once):`,
    ...lines,
    '',
  ];
}

/** Who shares the account's budget and who used this minute of it; whose limits apply. */
function sharingLines(s: SummaryInput['snapshot']): string[] {
  const lines: string[] = [];
  if (s.team) {
    const { teammates, members, connected, problem } = s.team;
    lines.push(
      connected
        ? `Team budget connected (Redis): one budget for the account, shared by ${members} window${members === 1 ? '' : 's'} of your team. This minute, teammates (other machines) used ${formatCount(teammates.requests)} requests, ${formatCount(teammates.tokens)} tokens.`
        : `Team budget offline: ${escape(problem ?? 'Redis is not reached')}. This window uses its share of the limits (above) until Redis is back; it reconnects by itself.`,
    );
  }
  if (s.sharing === 'degraded')
    lines.push(`Not shared with your other windows: ${escape(s.sharingProblem ?? 'unknown problem')}. This window keeps its own budget.`);
  if (s.windows !== undefined && s.windows > 1 && s.spentBy && !s.team) {
    const { here, others } = s.spentBy;
    lines.push(
      `One budget for the account, shared by ${s.windows} windows on this machine. This minute: this window ${formatCount(here.requests)} requests, ${formatCount(here.tokens)} tokens; other windows here ${formatCount(others.requests)} requests, ${formatCount(others.tokens)} tokens.`,
    );
  }
  if (s.limitsDiffer && s.ownLimits) {
    const own = s.ownLimits;
    lines.push(
      `The windows' limit settings differ: the smallest of each applies. This window's: ${formatCount(own.requestsPerMinute)} requests/min, ${formatCount(own.tokensPerMinute)} tokens/min, concurrency ${own.concurrency || 'no limit'}, ${own.tokensPerDay ? `${formatCount(own.tokensPerDay)} tokens/day` : 'no daily limit'}.`,
    );
  }
  return lines.length ? [...lines, ''] : [];
}

function escape(text: string): string {
  return text.replace(/[\\`*_{}[\]()#+\-.!|<>]/g, '\\$&');
}
