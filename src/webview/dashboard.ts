// The budget dashboard's page, in the webview: draws what the extension sends with uPlot, each chart
// with its numbers in a table beside it, in the theme's colours.
import uPlot from 'uplot';
import {
  AccuracyRow,
  CostsView,
  DashboardWords,
  HostMessage,
  LineRow,
  NowView,
  PageMessage,
  parseHostMessage,
  Range,
  SeriesView,
} from './protocol';

declare function acquireVsCodeApi(): { postMessage(message: PageMessage): void };
const host = acquireVsCodeApi();
const post = (message: PageMessage) => host.postMessage(message);

let words: DashboardWords | undefined;
let range: Range = 'hour';
let series: SeriesView | undefined;
let costs: CostsView | undefined;
const charts = new Map<string, uPlot>();

// One formatter each, made once: toLocaleString() makes a new one at every call, which a day's table would feel.
const counts = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
const times = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit' });
const dates = new Intl.DateTimeFormat('en-CA');
const count = (n: number) => counts.format(n);
const usd = (n: number) => `$${n.toFixed(n > 0 && n < 0.01 ? 4 : 2)}`;
const percent = (n: number) => `${n >= 0 ? '+' : ''}${n.toFixed(1)}%`;
const clock = (ms: number) => times.format(ms);
const date = (ms: number) => dates.format(ms);
const eta = (s: number) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;

/** A colour of the theme, from VS Code's CSS variables. */
function themeColor(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(`--vscode-${name}`).trim() || fallback;
}

/** `color` at `alpha` (two hex digits) when it is a plain #rrggbb, else as it is. */
function faded(color: string, alpha: string): string {
  return /^#[0-9a-f]{6}$/i.test(color) ? `${color}${alpha}` : color;
}

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: Partial<HTMLElementTagNameMap[K]> = {},
  ...children: (Node | string)[]
) {
  const el = Object.assign(document.createElement(tag), props);
  el.append(...children);
  return el;
}

function byId(id: string): HTMLElement {
  return document.getElementById(id)!;
}

/** A table with a caption, column headers (scope=col) and, per row, a header cell (scope=row). */
/** Text made safe to put into markup: every character that could start or end a tag or an attribute escaped. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * A table with a caption, column headers (scope=col) and, per row, a header cell (scope=row). Built as
 * one string of escaped markup: a day's table has thousands of cells, which one by one take far longer.
 */
function fillTable(id: string, caption: string, head: string[], rows: (string | number)[][], empty?: string): void {
  const cell = (value: string | number, i: number) => {
    const text = escapeHtml(String(value));
    if (i === 0) return `<th scope="row">${text}</th>`;
    return typeof value === 'string' && !/^[-+$\d]/.test(value) ? `<td class="text">${text}</td>` : `<td>${text}</td>`;
  };
  const body = rows.length
    ? rows.map((row) => `<tr>${row.map(cell).join('')}</tr>`).join('')
    : empty
      ? `<tr><td class="empty text" colspan="${head.length}">${escapeHtml(empty)}</td></tr>`
      : '';
  byId(id).innerHTML =
    `<caption>${escapeHtml(caption)}</caption>` +
    `<thead><tr>${head.map((h) => `<th scope="col">${escapeHtml(h)}</th>`).join('')}</tr></thead>` +
    `<tbody>${body}</tbody>`;
}

function skeleton(w: DashboardWords): void {
  const main = byId('dashboard');
  const rangeButton = (r: Range, label: string) =>
    element('button', { textContent: label, type: 'button', onclick: () => choose(r), id: `range-${r}` });
  main.replaceChildren(
    element('h1', { textContent: w.title }),
    element(
      'section',
      {},
      element('h2', { textContent: w.now }),
      element('table', { id: 'now' }),
      element('div', { className: 'meter', id: 'today' }),
      element('ul', { id: 'learned' }),
    ),
    element('section', {}, element('h2', { textContent: w.line }), element('table', { id: 'line' })),
    element(
      'section',
      {},
      element('h2', { textContent: w.usage }),
      element(
        'div',
        { className: 'ranges', role: 'group' },
        rangeButton('hour', w.hour),
        rangeButton('day', w.day),
        element('span', { className: 'hint', textContent: w.zoomHint }),
      ),
      element(
        'div',
        { className: 'grid' },
        element('div', {}, element('h3', { textContent: w.requestsChart }), element('div', { id: 'chart-requests' })),
        element('div', {}, element('h3', { textContent: w.tokensChart }), element('div', { id: 'chart-tokens' })),
        element('div', {}, element('h3', { textContent: w.lineChart }), element('div', { id: 'chart-line' })),
      ),
      // The numbers of the three charts: a day's can be 1,440 rows, built and laid out only while open.
      element(
        'details',
        { id: 'usage-numbers', ontoggle: () => series && fillUsageTable(series) },
        element('summary', { textContent: w.usageNumbers }),
        element('div', { className: 'scroll' }, element('table', { id: 'usage' })),
      ),
    ),
    element(
      'section',
      {},
      element('h2', { textContent: w.costs }),
      element(
        'div',
        { className: 'grid' },
        element('div', {}, element('h3', { textContent: w.costChart }), element('div', { id: 'chart-costs' })),
        element('div', {}, element('table', { id: 'models' })),
      ),
      element('div', { className: 'scroll' }, element('table', { id: 'days' })),
    ),
    element('section', {}, element('h2', { textContent: w.accuracy }), element('table', { id: 'accuracy' })),
  );
  showRange();
}

function choose(r: Range): void {
  if (r === range) return;
  range = r;
  showRange();
  post({ type: 'range', range: r });
}

function showRange(): void {
  for (const r of ['hour', 'day'] as Range[]) byId(`range-${r}`)?.setAttribute('aria-pressed', String(r === range));
}

function showNow(now: NowView, line: readonly LineRow[]): void {
  const w = words!;
  const day = now.tokensPerDay > 0;
  fillTable(
    'now',
    w.nowTable,
    ['', w.used, w.left, w.limit],
    [
      [w.requestsPerMinute, count(now.requestsPerMinute - now.requestsLeft), count(now.requestsLeft), count(now.requestsPerMinute)],
      [w.tokensPerMinute, count(now.tokensPerMinute - now.tokensLeft), count(now.tokensLeft), count(now.tokensPerMinute)],
      [
        w.tokensToday,
        count(now.tokensToday),
        day ? count(Math.max(0, now.tokensPerDay - now.tokensToday)) : '—',
        day ? count(now.tokensPerDay) : w.noDailyLimit,
      ],
      [w.queued, count(now.queued), '', ''],
      [w.inFlight, count(now.inFlight), '', ''],
    ],
  );
  const meter = byId('today');
  meter.hidden = !day;
  meter.setAttribute('role', 'meter');
  meter.setAttribute('aria-label', w.tokensToday);
  meter.setAttribute('aria-valuemin', '0');
  meter.setAttribute('aria-valuemax', String(now.tokensPerDay));
  meter.setAttribute('aria-valuenow', String(now.tokensToday));
  // Text nodes only: the server's words are in these sentences.
  byId('learned').replaceChildren(...(now.learned ?? []).map((sentence) => element('li', { textContent: sentence })));
  const fill = meter.firstElementChild ?? meter.appendChild(element('div'));
  (fill as HTMLElement).style.width = `${day ? Math.min(100, (100 * now.tokensToday) / now.tokensPerDay) : 0}%`;
  fillTable(
    'line',
    w.lineTable,
    [w.send, w.tokens, w.eta, w.heldBy, w.whose],
    line.map((r) => [
      r.label,
      count(r.tokens),
      r.running ? w.running : r.etaSeconds === null ? w.afterRunning : eta(r.etaSeconds),
      r.heldBy,
      r.whose,
    ]),
    w.lineEmpty,
  );
}

/** uPlot options shared by the charts: the theme's colours, a time axis, drag to zoom. */
function options(id: string, extra: uPlot.Series[], scales: uPlot.Scales = {}, axes: uPlot.Axis[] = []): uPlot.Options {
  const foreground = themeColor('foreground', '#888');
  const lines = themeColor('charts-lines', 'rgba(128,128,128,0.3)');
  const container = byId(id);
  return {
    width: Math.max(300, container.clientWidth || 480),
    height: 200,
    // Each point starts its minute (or day): the last one's span is drawn too.
    scales: { x: { time: true, range: (_u, min, max) => [min, max + (id === 'chart-costs' ? 86_400 : 60)] }, ...scales },
    cursor: { drag: { x: true, y: false } },
    legend: { live: false },
    axes: [
      {
        stroke: foreground,
        grid: { stroke: lines, width: 1 },
        ticks: { stroke: lines },
        space: id === 'chart-costs' ? 90 : 60,
        // Times as the tables write them (24-hour clock), days as dates.
        values: (_u: uPlot, splits: number[]) => splits.map((s) => (id === 'chart-costs' ? date(s * 1000) : clock(s * 1000))),
      },
      { stroke: foreground, grid: { stroke: lines, width: 1 }, ticks: { stroke: lines }, size: 72 },
      ...axes.map((a) => ({ stroke: foreground, grid: { show: false }, ticks: { stroke: lines }, ...a })),
    ],
    series: [{}, ...extra],
  };
}

/** Shades the minutes in which the server had paused the queue. */
function pauseBands(pausedMs: () => readonly number[], color: string): uPlot.Plugin {
  return {
    hooks: {
      drawClear: (u: uPlot) => {
        const xs = u.data[0];
        const paused = pausedMs();
        const ctx = u.ctx;
        ctx.save();
        ctx.fillStyle = color;
        ctx.globalAlpha = 0.18;
        for (let i = 0; i < xs.length; i++) {
          if (!paused[i]) continue;
          const left = u.valToPos(xs[i], 'x', true);
          const right = u.valToPos(xs[i] + 60, 'x', true);
          ctx.fillRect(left, u.bbox.top, Math.max(1, right - left), u.bbox.height);
        }
        ctx.restore();
      },
    },
  };
}

function makeCharts(): void {
  for (const chart of charts.values()) chart.destroy();
  charts.clear();
  const w = words!;
  const blue = themeColor('charts-blue', '#3794ff');
  const red = themeColor('charts-red', '#f14c4c');
  const orange = themeColor('charts-orange', '#d18616');
  const purple = themeColor('charts-purple', '#b180d7');
  const green = themeColor('charts-green', '#89d185');
  const foreground = themeColor('foreground', '#888');
  const limit = (): uPlot.Series => ({ label: w.limit, stroke: foreground, dash: [6, 4], width: 1, points: { show: false } });
  const stepped = uPlot.paths.stepped!({ align: 1 });
  const make = (id: string, opts: uPlot.Options) => {
    const container = byId(id);
    container.replaceChildren();
    charts.set(id, new uPlot(opts, [[]], container));
  };
  const paused = () => series?.pausedMs ?? [];
  make('chart-requests', {
    ...options('chart-requests', [
      { label: w.requests, stroke: blue, fill: faded(blue, '33'), paths: stepped, points: { show: false } },
      limit(),
      { label: w.refusals, stroke: red, width: 0, points: { show: true, size: 8, fill: red, stroke: red } },
    ]),
    plugins: [pauseBands(paused, red)],
  });
  make('chart-tokens', {
    ...options('chart-tokens', [
      { label: w.tokens, stroke: purple, fill: faded(purple, '33'), paths: stepped, points: { show: false } },
      limit(),
    ]),
    plugins: [pauseBands(paused, red)],
  });
  make(
    'chart-line',
    options(
      'chart-line',
      [
        { label: w.queue, stroke: orange, paths: stepped, points: { show: false } },
        { label: w.meanWait, stroke: green, scale: 'wait', points: { show: true, size: 5 }, width: 1 },
      ],
      { wait: { auto: true } },
      [{ scale: 'wait', side: 1 }],
    ),
  );
  const costOptions = options('chart-costs', [
    { label: w.usd, stroke: blue, fill: faded(blue, '88'), paths: uPlot.paths.bars!({ size: [0.7, 40] }), points: { show: false } },
  ]);
  // Dollars on the y axis, with the cents (or less) the amounts need.
  costOptions.axes![1].values = (_u: uPlot, splits: number[]) => splits.map((v) => usd(v));
  make('chart-costs', costOptions);
  if (series) drawSeries(series);
  if (costs) drawCosts(costs);
}

function drawSeries(s: SeriesView): void {
  const x = s.at.map((t) => t / 1000);
  const nulls = (values: readonly number[]) => values.map((v) => (v > 0 ? v : null));
  charts.get('chart-requests')?.setData([x, [...s.requests], x.map(() => s.requestsPerMinute), nulls(s.refusals)]);
  charts.get('chart-tokens')?.setData([x, [...s.tokens], x.map(() => s.tokensPerMinute)]);
  charts.get('chart-line')?.setData([x, [...s.queue], s.meanWaitMs.map((ms, i) => (s.requests[i] > 0 ? ms / 1000 : null))]);
  fillUsageTable(s);
}

/** The charts' numbers, built only while the reader has them open (a day's can be 1,440 rows). */
function fillUsageTable(s: SeriesView): void {
  if (!(byId('usage-numbers') as HTMLDetailsElement).open) return;
  const w = words!;
  const rows: (string | number)[][] = [];
  for (let i = s.at.length - 1; i >= 0; i--) {
    if (!(s.requests[i] || s.refusals[i] || s.queue[i] || s.pausedMs[i])) continue;
    rows.push([
      clock(s.at[i]),
      count(s.requests[i]),
      count(s.tokens[i]),
      count(s.refusals[i]),
      count(s.pausedMs[i] / 1000),
      count(s.queue[i]),
      count(s.meanWaitMs[i] / 1000),
    ]);
  }
  fillTable(
    'usage',
    `${w.usageTable} (${range === 'hour' ? w.hour : w.day})`,
    [w.minute, w.requests, w.tokens, w.refusals, w.paused, w.queue, w.meanWait],
    rows,
    w.usageTableEmpty,
  );
}

function drawCosts(c: CostsView): void {
  const w = words!;
  charts.get('chart-costs')?.setData([c.days.map((d) => d.day / 1000 + 43_200), c.days.map((d) => d.usd)]);
  fillTable(
    'days',
    w.costTable,
    [w.date, w.usd, w.answers],
    [...c.days]
      .reverse()
      .filter((d) => d.answers > 0)
      .map((d) => [date(d.day), usd(d.usd), count(d.answers)]),
    w.usageTableEmpty,
  );
  fillTable(
    'models',
    w.modelTable,
    [w.model, w.usd, w.answers, w.unpriced],
    c.models.map((m) => [m.model, usd(m.usd), count(m.answers), count(m.unpriced)]),
    w.usageTableEmpty,
  );
}

function drawAccuracy(rows: readonly AccuracyRow[]): void {
  const w = words!;
  fillTable(
    'accuracy',
    w.accuracyTable,
    [w.model, w.answers, w.meanError, w.meanAbsoluteError, w.lastEstimate, w.lastServer],
    rows.map((r) => [
      r.model,
      count(r.answers),
      percent(r.meanErrorPercent),
      percent(r.meanAbsoluteErrorPercent).replace('+', ''),
      count(r.lastEstimated),
      count(r.lastServer),
    ]),
    w.accuracyEmpty,
  );
}

function receive(message: HostMessage): void {
  if (message.type === 'init') {
    words = message.words;
    document.title = words.title;
    skeleton(words);
    makeCharts();
    return;
  }
  if (!words) return;
  const started = performance.now();
  showNow(message.now, message.line);
  if (message.series) {
    series = message.series;
    range = series.range;
    showRange();
    drawSeries(series);
  }
  if (message.costs) drawCosts((costs = message.costs));
  if (message.accuracy) drawAccuracy(message.accuracy);
  if (message.series) {
    const points = message.series.at.length;
    // uPlot redraws in a microtask after setData: measure once it has.
    queueMicrotask(() =>
      queueMicrotask(() => {
        void document.body.offsetHeight; // the layout of what changed is counted too
        const ms = performance.now() - started;
        document.body.dataset.drawMs = ms.toFixed(2);
        document.body.dataset.drawPoints = String(points);
        post({ type: 'drawn', ms, points });
      }),
    );
  }
}

window.addEventListener('message', (event: MessageEvent) => {
  const message = parseHostMessage(event.data);
  if (message) receive(message);
});
// The theme changed (VS Code sets the body's class): draw again in its colours.
new MutationObserver(() => words && makeCharts()).observe(document.body, { attributes: true, attributeFilter: ['class'] });
window.addEventListener('resize', () => {
  for (const [id, chart] of charts) chart.setSize({ width: Math.max(300, byId(id).clientWidth), height: 200 });
});
post({ type: 'ready' });
