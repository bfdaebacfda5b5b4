/** A small SVG line chart: enough for "budget use over time", no plotting library. */

export interface Series {
  readonly name: string;
  readonly color: string;
  readonly dashed?: boolean;
  readonly points: readonly (readonly [number, number])[];
}

export interface Panel {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Horizontal reference lines, such as the limit. */
  readonly marks?: readonly { readonly y: number; readonly label: string }[];
  readonly yMax?: number;
  readonly xMax?: number;
}

const WIDTH = 1000;
const PANEL_HEIGHT = 260;
const MARGIN = { left: 64, right: 280, top: 34, bottom: 44 };

/** Panels stacked vertically, sharing the width; each with its own axes and legend. */
export function svgChart(title: string, panels: readonly Panel[]): string {
  const height = 40 + panels.length * PANEL_HEIGHT;
  const parts = panels.map((panel, i) => renderPanel(panel, 40 + i * PANEL_HEIGHT));
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${WIDTH / 2}" y="24" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

function renderPanel(panel: Panel, top: number): string {
  const x0 = MARGIN.left;
  const x1 = WIDTH - MARGIN.right;
  const y0 = top + PANEL_HEIGHT - MARGIN.bottom;
  const y1 = top + MARGIN.top;
  const all = panel.series.flatMap((s) => s.points);
  const xMax = panel.xMax ?? niceCeil(Math.max(1e-9, ...all.map((p) => p[0])));
  const yMax = panel.yMax ?? niceCeil(Math.max(1e-9, ...all.map((p) => p[1]), ...(panel.marks ?? []).map((m) => m.y)));
  const sx = (x: number) => x0 + (x / xMax) * (x1 - x0);
  const sy = (y: number) => y0 - (Math.min(y, yMax) / yMax) * (y0 - y1);
  const out: string[] = [];
  out.push(`<text x="${x0}" y="${top + 20}" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`);
  for (const tick of ticks(yMax)) {
    out.push(`<line x1="${x0}" x2="${x1}" y1="${sy(tick).toFixed(1)}" y2="${sy(tick).toFixed(1)}" stroke="#e4e4e4"/>`);
    out.push(`<text x="${x0 - 6}" y="${(sy(tick) + 4).toFixed(1)}" text-anchor="end">${formatTick(tick)}</text>`);
  }
  for (const tick of ticks(xMax)) {
    out.push(`<line x1="${sx(tick).toFixed(1)}" x2="${sx(tick).toFixed(1)}" y1="${y0}" y2="${y0 + 4}" stroke="#333"/>`);
    out.push(`<text x="${sx(tick).toFixed(1)}" y="${y0 + 17}" text-anchor="middle">${formatTick(tick)}</text>`);
  }
  out.push(`<line x1="${x0}" x2="${x1}" y1="${y0}" y2="${y0}" stroke="#333"/>`);
  out.push(`<line x1="${x0}" x2="${x0}" y1="${y0}" y2="${y1}" stroke="#333"/>`);
  out.push(`<text x="${(x0 + x1) / 2}" y="${y0 + 34}" text-anchor="middle">${escapeXml(panel.xLabel)}</text>`);
  out.push(`<text transform="translate(${x0 - 46},${(y0 + y1) / 2}) rotate(-90)" text-anchor="middle">${escapeXml(panel.yLabel)}</text>`);
  for (const mark of panel.marks ?? []) {
    out.push(
      `<line x1="${x0}" x2="${x1}" y1="${sy(mark.y).toFixed(1)}" y2="${sy(mark.y).toFixed(1)}" stroke="#c00" stroke-width="1.2" stroke-dasharray="2,3"/>`,
    );
    out.push(`<text x="${x1 - 4}" y="${(sy(mark.y) - 5).toFixed(1)}" text-anchor="end" fill="#c00">${escapeXml(mark.label)}</text>`);
  }
  panel.series.forEach((series, i) => {
    const d = series.points.map(([x, y], j) => `${j ? 'L' : 'M'}${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join('');
    const dash = series.dashed ? ' stroke-dasharray="6,4"' : '';
    out.push(`<path d="${d}" fill="none" stroke="${series.color}" stroke-width="1.8"${dash}/>`);
    const ly = y1 + 6 + i * 20;
    out.push(`<line x1="${x1 + 14}" x2="${x1 + 40}" y1="${ly}" y2="${ly}" stroke="${series.color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${x1 + 46}" y="${ly + 4}">${escapeXml(series.name)}</text>`);
  });
  return out.join('\n');
}

/** The next "round" number (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 × 10^k) at or above `value`. */
export function niceCeil(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (step * power >= value) return step * power;
  return 10 * power;
}

function ticks(max: number): number[] {
  const step = max / 5;
  return Array.from({ length: 6 }, (_, i) => i * step);
}

function formatTick(value: number): string {
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
