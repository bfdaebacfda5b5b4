/** A table of figures, printed to the console and written into docs/benchmarks.md alike. */
export interface Table {
  readonly title: string;
  readonly columns: readonly string[];
  readonly rows: readonly (readonly string[])[];
  /** Printed under the table. */
  readonly note?: string;
}

/** Columns padded to their widest cell; numbers (and "—") right-aligned. */
export function toText(table: Table): string {
  const all = [table.columns, ...table.rows];
  const widths = table.columns.map((_, c) => Math.max(...all.map((row) => (row[c] ?? '').length)));
  const line = (row: readonly string[]) =>
    row
      .map((cell, c) => (c > 0 && looksNumeric(cell) ? cell.padStart(widths[c]) : cell.padEnd(widths[c])))
      .join('  ')
      .trimEnd();
  const rule = widths.map((w) => '-'.repeat(w)).join('  ');
  return [table.title, line(table.columns), rule, ...table.rows.map(line), ...(table.note ? [table.note] : [])].join('\n');
}

export function toMarkdown(table: Table): string {
  const escape = (cell: string) => cell.replace(/\|/g, '\\|');
  const align = table.columns.map((_, c) => (c > 0 && table.rows.every((row) => looksNumeric(row[c] ?? '')) ? '---:' : '---'));
  const lines = [
    `| ${table.columns.map(escape).join(' | ')} |`,
    `| ${align.join(' | ')} |`,
    ...table.rows.map((row) => `| ${row.map(escape).join(' | ')} |`),
  ];
  return [`**${table.title}**`, '', ...lines, ...(table.note ? ['', table.note] : [])].join('\n');
}

/** Figures, with a unit, a bound ("> ", "≥ ", "≈") or a bracketed remark: right-aligned. */
function looksNumeric(cell: string): boolean {
  const figure = '[-+≈≥>< ]*[\\d.,]+\\s*[a-zA-Z%×µ]*(/s)?';
  return new RegExp(`^${figure}(\\s*/\\s*${figure})?(\\s*\\(.*\\))?$`).test(cell.trim()) || cell.trim() === '—';
}

/** Formatting helpers shared by every section. */
export const fmt = {
  int: (n: number) => Math.round(n).toLocaleString('en-US'),
  fixed: (n: number, digits: number) => n.toFixed(digits),
  ms: (n: number) => (n >= 100 ? `${Math.round(n)} ms` : `${n.toFixed(1)} ms`),
  seconds: (ms: number) => `${(ms / 1000).toFixed(ms >= 100_000 ? 0 : 1)} s`,
  /** Seconds up to two minutes, then minutes. */
  wait: (ms: number) => (ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60_000).toFixed(1)} min`),
  minutes: (ms: number) => `${(ms / 60_000).toFixed(2)} min`,
  ratio: (r: number) => `${r.toFixed(3)}×`,
  mbps: (bytesPerMs: number) => `${(bytesPerMs / 1000).toFixed(2)} MB/s`,
  bytes: (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)} MB` : `${(n / 1e3).toFixed(1)} kB`),
  kTokens: (n: number) =>
    n >= 1e7
      ? `${Math.round(n / 1e6).toLocaleString('en-US')}M`
      : n >= 10_000
        ? `${Math.round(n / 1000).toLocaleString('en-US')}k`
        : Math.round(n).toLocaleString('en-US'),
};
