// Section 6: what the budget dashboard costs. (a) Feeding the page: the extension host builds one
// update a second while the page is visible, serialised as postMessage does; against a baseline of
// the same run, the status bar's own summary (which it computes every second while a send waits).
// (b) Recording: one event into the usage series, against one spend into the ledger.
// (c) Drawing: the page itself (dist/webview, uPlot) in Chromium, a day at minute resolution,
// against an hour drawn in the same run.
import * as fs from 'node:fs';
import { MemoryAccountStore } from '../../src/core/account';
import { AnswerStats, DAY_MS } from '../../src/core/answerStats';
import { MemoryLedger } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { QueueEntryView } from '../../src/core/sendQueue';
import { DEFAULT_SERIES_MINUTES, MINUTE_MS, UsageSeries } from '../../src/core/usageSeries';
import { summarize } from '../../src/ui/budgetSummary';
import { DashboardFeed } from '../../src/ui/dashboardFeed';
import { DASHBOARD_WORDS } from '../../src/ui/words';
import { HostMessage } from '../../src/webview/protocol';
import { fromRoot } from '../paths';
import { Goal } from '../report/goal';
import { medianOf } from '../report/stats';
import { fmt, Table } from '../report/table';

export interface DashboardResult {
  readonly tables: Table[];
  readonly goals: Goal[];
}

const LIMITS: Limits = { requestsPerMinute: 200, tokensPerMinute: 2_000_000, concurrency: 50, tokensPerDay: 0 };
const NOW = 20_000 * DAY_MS + 12 * 3_600_000;

/** 30 days with a send, a line and a refusal in every minute: the largest series the dashboard keeps. */
function fullSeries(): UsageSeries {
  const series = new UsageSeries();
  for (let m = DEFAULT_SERIES_MINUTES - 1; m >= 0; m--) {
    const at = NOW - m * MINUTE_MS;
    series.record({ kind: 'admitted', at, tokens: 9_000, waitedMs: 1_500 });
    series.record({ kind: 'line', at, waiting: m % 7 });
    if (m % 50 === 0) series.record({ kind: 'refused', at, until: at + 20_000 });
  }
  return series;
}

function fullStats(): AnswerStats {
  const stats = new AnswerStats();
  for (let d = 29; d >= 0; d--)
    for (const model of ['kimi-k2.6', 'kimi-k2.5', 'moonshot-v1-8k'])
      for (let i = 0; i < 20; i++)
        stats.record({ at: NOW - d * DAY_MS, model, costUsd: 0.01, estimatedTokens: 1_000 + i, serverTokens: 1_010 });
  return stats;
}

/** Twenty sends waiting, the most the queue holds by default. */
function waitingLine(): QueueEntryView[] {
  return Array.from({ length: 20 }, (_, i) => ({
    id: i + 1,
    ahead: 0,
    label: `prompt number ${i + 1} about rate limits`,
    tokens: 9_000,
    enqueuedAt: NOW - 10_000,
    state: 'waiting' as const,
    eta: NOW + i * 3_000,
    attempt: 0,
  }));
}

/** Median microseconds of `fn` over `rounds` rounds of `perRound` calls. */
function microseconds(fn: () => void, rounds = 15, perRound = 200): number {
  for (let i = 0; i < perRound; i++) fn(); // warm up
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const start = performance.now();
    for (let i = 0; i < perRound; i++) fn();
    samples.push(((performance.now() - start) * 1_000) / perRound);
  }
  return medianOf(samples);
}

function hostCosts(): { table: Table; goal: Goal } {
  const series = fullSeries();
  const stats = fullStats();
  const account = MemoryAccountStore.create(LIMITS, { now: () => NOW, setTimer: () => () => {} });
  const entries = waitingLine();
  const tickets = entries.map((e) => ({ id: `t${e.id}`, holder: account.holder, tokens: e.tokens, order: e.enqueuedAt }));
  const feed = new DashboardFeed({
    series,
    stats,
    snapshot: () => account.snapshot(),
    entries: () => entries,
    tickets: () => tickets,
    holder: () => account.holder,
    heldBy: () => 'requestsPerMinute',
    now: () => NOW,
  });
  let bytes = 0;
  const post = (message: HostMessage) => (bytes = JSON.stringify(message).length);
  const statusBar = microseconds(() =>
    summarize({
      snapshot: account.snapshot(),
      entries,
      heldBy: 'requestsPerMinute',
      refusal: undefined,
      now: NOW,
      model: 'kimi-k2.6',
      calibration: { ratio: 1, samples: 3 },
      sessionCostUsd: 0.12,
      sessionCostKnown: true,
    }),
  );
  const rows: string[][] = [];
  const measure = (what: string, prepare: () => void): number => {
    const us = microseconds(() => {
      prepare();
      post(feed.next());
    });
    rows.push([what, `${us.toFixed(1)} µs`, fmt.bytes(bytes), fmt.ratio(us / statusBar), `${((us / 1_000_000) * 100).toFixed(3)}%`]);
    return us;
  };
  rows.push([
    "baseline: the status bar's summary, 20 waiting",
    `${statusBar.toFixed(1)} µs`,
    '—',
    fmt.ratio(1),
    `${((statusBar / 1_000_000) * 100).toFixed(3)}%`,
  ]);
  feed.reset('hour');
  feed.next();
  const quiet = measure('update, nothing new (the budget and the line)', () => {});
  const hour = measure('update, the hour series changed', () => feed.reset('hour'));
  const day = measure('update, the day series changed (worst case)', () => feed.reset('day'));
  // Recording: one event into the series against one spend into the ledger (the budget's own bookkeeping per send).
  const ledger = new MemoryLedger();
  let t = NOW;
  let n = 0;
  const spend = microseconds(() => ledger.record({ id: `s${n++}`, at: (t += 10), requests: 1, tokens: 100 }), 15, 2_000);
  let u = NOW;
  const record = microseconds(() => series.record({ kind: 'admitted', at: (u += 10), tokens: 100, waitedMs: 0 }), 15, 2_000);
  rows.push(['record one event into the series', `${record.toFixed(2)} µs`, '—', fmt.ratio(record / spend), '—']);
  rows.push(['baseline: record one spend into the ledger', `${spend.toFixed(2)} µs`, '—', fmt.ratio(1), '—']);
  const worst = Math.max(quiet, hour, day);
  return {
    table: {
      title: 'Feeding the dashboard (extension host, one update a second while visible; 30 days kept, 20 sends waiting)',
      columns: ['what', 'time (median)', 'message', 'ratio to baseline', 'share of a second'],
      rows,
      note: 'The page keeps the series it was sent: a quiet second sends only the budget and the line; the series goes again when it changed or the minute rolled over. Hidden, the page is fed nothing.',
    },
    goal: {
      goal: 'feeding the dashboard costs the extension host under 1 ms a second',
      met: worst < 1_000,
      measured: `${(quiet / 1000).toFixed(3)} ms a quiet second, ${(hour / 1000).toFixed(3)} ms with the hour's series, ${(day / 1000).toFixed(3)} ms with a day's (worst case)`,
    },
  };
}

interface Playwright {
  chromium: {
    launch(options: { executablePath: string; headless: boolean; args: string[] }): Promise<{
      newPage(options: { viewport: { width: number; height: number } }): Promise<{
        setContent(html: string): Promise<void>;
        addStyleTag(options: { content: string }): Promise<unknown>;
        addScriptTag(options: { content: string }): Promise<unknown>;
        evaluate<R, A>(fn: (arg: A) => R | Promise<R>, arg: A): Promise<R>;
      }>;
      close(): Promise<void>;
    }>;
  };
}

/** The page drawing a day, then an hour, `rounds` times each, in Chromium; milliseconds as the page measured them. */
async function drawCosts(log: (line: string) => void): Promise<{ table: Table; goal: Goal } | string> {
  let harness: { requirePlaywright(): Playwright; paths: { chromium: string } };
  try {
    harness = require(fromRoot('test', 'vscode', 'install.js'));
  } catch (error) {
    return `no browser harness: ${String(error)}`;
  }
  if (!fs.existsSync(harness.paths.chromium)) return `${harness.paths.chromium} not found`;
  const browser = await harness.requirePlaywright().chromium.launch({
    executablePath: harness.paths.chromium,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking'],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
    await page.setContent('<!DOCTYPE html><html><body class="vscode-dark"><main id="dashboard"></main></body></html>');
    await page.addStyleTag({ content: fs.readFileSync(fromRoot('dist', 'webview', 'dashboard.css'), 'utf8') });
    await page.addStyleTag({ content: 'body { --vscode-foreground: #ccc; --vscode-charts-blue: #3794ff; --vscode-charts-red: #f14c4c; }' });
    // What VS Code gives a webview: acquireVsCodeApi(), here keeping what the page posts.
    await page.addScriptTag({
      content: 'window.posted = []; window.acquireVsCodeApi = () => ({ postMessage: (m) => window.posted.push(m) });',
    });
    await page.addScriptTag({ content: fs.readFileSync(fromRoot('dist', 'webview', 'dashboard.js'), 'utf8') });
    const series = fullSeries();
    const stats = fullStats();
    const account = MemoryAccountStore.create(LIMITS, { now: () => NOW, setTimer: () => () => {} });
    const entries = waitingLine();
    const feed = new DashboardFeed({
      series,
      stats,
      snapshot: () => account.snapshot(),
      entries: () => entries,
      tickets: () => [],
      holder: () => account.holder,
      heldBy: () => 'requestsPerMinute',
      now: () => NOW,
    });
    const draw = async (range: 'hour' | 'day'): Promise<number> => {
      feed.reset(range);
      const update = feed.next();
      return page.evaluate(
        ({ update }) =>
          new Promise<number>((resolve) => {
            const w = globalThis as unknown as { posted: { type: string; ms: number }[]; postMessage(m: unknown, o: string): void };
            const before = w.posted.length;
            w.postMessage(update, '*');
            const wait = () => {
              const drawn = w.posted.slice(before).find((m) => m.type === 'drawn');
              if (drawn) resolve(drawn.ms);
              else setTimeout(wait, 5);
            };
            wait();
          }),
        { update },
      );
    };
    await page.evaluate(({ init }) => (globalThis as unknown as { postMessage(m: unknown, o: string): void }).postMessage(init, '*'), {
      init: { type: 'init', words: DASHBOARD_WORDS },
    });
    const rounds = async (): Promise<{ day: number[]; hour: number[] }> => {
      const day: number[] = [];
      const hour: number[] = [];
      for (let i = 0; i < 3; i++) await draw(i % 2 ? 'hour' : 'day'); // warm up
      for (let i = 0; i < 15; i++) {
        day.push(await draw('day'));
        hour.push(await draw('hour'));
      }
      return { day, hour };
    };
    const closed = await rounds();
    // The reader opens the charts' numbers: the table of every minute is laid out too.
    await page.evaluate(() => {
      const details = (globalThis as unknown as { document: { getElementById(id: string): { open: boolean } } }).document.getElementById(
        'usage-numbers',
      );
      details.open = true;
    }, undefined);
    const open = await rounds();
    const d = medianOf(closed.day);
    const h = medianOf(closed.hour);
    const row = (what: string, points: string, values: number[]) => [
      what,
      points,
      fmt.ms(medianOf(values)),
      fmt.ms(Math.max(...values)),
      fmt.ratio(medianOf(values) / h),
    ];
    log(`  page: a day drawn in ${fmt.ms(d)} (median of ${closed.day.length}), an hour in ${fmt.ms(h)}`);
    return {
      table: {
        title: 'Drawing the dashboard (the page in Chromium: 3 uPlot charts, the tables of the budget, the line and the costs)',
        columns: ['what', 'points a series', 'time (median)', 'slowest', 'ratio to baseline'],
        rows: [
          row('baseline: the last hour', '60', closed.hour),
          row('the last day, minute resolution', '1,440', closed.day),
          row("the last hour, the charts' numbers open", '60', open.hour),
          row("the last day, the charts' numbers open (1,440 rows)", '1,440', open.day),
        ],
        note: "Measured by the page from receiving the update until uPlot's redraw and the layout are done, with a send in every minute of the day. The charts' numbers are a table in a disclosure, built only while the reader has it open; open, a day's table of 1,440 rows is built and laid out at each update of the series.",
      },
      goal: {
        goal: 'the page draws a day at minute resolution in under 50 ms',
        met: d < 50,
        measured: `${fmt.ms(d)} (median of ${closed.day.length}); ${fmt.ms(medianOf(open.day))} with the table of every minute open`,
      },
    };
  } finally {
    await browser.close();
  }
}

export async function runDashboard(log: (line: string) => void): Promise<DashboardResult> {
  const host = hostCosts();
  log('  host: measured');
  const draw = await drawCosts(log);
  const tables = [host.table];
  const goals = [host.goal];
  if (typeof draw === 'string') log(`  page: not measured (${draw})`);
  else {
    tables.push(draw.table);
    goals.push(draw.goal);
  }
  return { tables, goals };
}
