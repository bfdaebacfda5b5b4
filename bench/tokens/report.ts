import type { Goal } from '../report/goal';
import { medianOf, msSpread } from '../report/stats';
import { fmt, Table } from '../report/table';
import type { CorpusText } from './corpus';
import type { ExtensionCount, Timed } from './extensionCounter';
import { LIBRARY_NAMES, LibraryName } from './libraries';
import type { LibraryOutcome } from './libraryRunner';

const STALL_GOAL_MS = 20;
const LONG_RUN_GOAL_MS = 200;

/** One input, counted by the extension (several runs) and the libraries. */
export interface Measured {
  readonly text: CorpusText;
  readonly bytes: number;
  /** The run with the median first pass. */
  readonly extension: ExtensionCount;
  /** First-pass times of every run. */
  readonly extensionFirstMs: number[];
  /** Each run's fresh counter: starting its worker and loading o200k. */
  readonly starts: Timed<unknown>[];
  /** Per run, the longest host stall over its passes. */
  readonly stallsMs: number[];
  /** The longest stall of an idle host over the median run's duration: the machine's own noise. */
  readonly idleStallMs: number;
  /** The median run of each library. */
  readonly libraries: Record<LibraryName, LibraryOutcome>;
  readonly libraryFirstMs: Record<LibraryName, number[]>;
  /** Loading each library, when this input's runs loaded it (the first input, or after a stopped count). */
  readonly libraryLoadMs: Record<LibraryName, number | undefined>;
}

export interface TokenCountingResult {
  readonly tables: Table[];
  readonly goals: Goal[];
  readonly sources: string[];
  /** Starting the worker and loading o200k in plain Node, for comparison with the same inside VS Code. */
  readonly startMs: number;
}

export function tokenCountingReport(corpus: Measured[], worst: Measured[]): TokenCountingResult {
  return {
    tables: [throughputTable(corpus), countsTable(corpus), worstCaseTable(worst), startTable([...corpus, ...worst])],
    goals: goals(corpus, worst),
    sources: [...corpus, ...worst].filter((m) => m.text.source !== 'generated').map((m) => `${m.text.name}: ${m.text.source}`),
    startMs: medianOf([...corpus, ...worst].flatMap((m) => m.starts.map((s) => s.ms))),
  };
}

function finished(outcome: LibraryOutcome): outcome is Extract<LibraryOutcome, { tokens: number }> {
  return !('timedOut' in outcome);
}

function rate(bytes: number, ms: number): string {
  return fmt.mbps(bytes / ms);
}

function throughputTable(corpus: Measured[]): Table {
  const cell = (m: Measured, passMs: number[] | undefined) =>
    passMs ? `${rate(m.bytes, passMs[0])} / ${rate(m.bytes, passMs[1])}` : '> limit';
  const rows = [
    [
      'kimi-budget TokenCounter (worker)',
      ...corpus.map((m) =>
        cell(
          m,
          m.extension.passes.map((p) => p.ms),
        ),
      ),
    ],
    ...LIBRARY_NAMES.map((name) => [
      `${name} (raw)`,
      ...corpus.map((m) => cell(m, finished(m.libraries[name]) ? m.libraries[name].passMs : undefined)),
    ]),
  ];
  return {
    title: 'Token counting throughput, o200k_base: first pass / repeated pass',
    columns: ['counter', ...corpus.map((m) => `${m.text.name} (${fmt.bytes(m.bytes)})`)],
    rows,
    note: `First pass: a fresh TokenCounter (its piece memo empty; worker start and tokenizer load excluded), gpt-tokenizer with its merge cache cleared. Repeated pass: the same text again (memo and caches warm). For each counter, its run with the median first pass of ${corpus[0]?.extensionFirstMs.length}. MB = 10^6 bytes of UTF-8.`,
  };
}

function countsTable(corpus: Measured[]): Table {
  return {
    title: 'Token counts on the corpus (o200k_base; all four must agree)',
    columns: ['text', 'kimi-budget', ...LIBRARY_NAMES, 'agree'],
    rows: corpus.map((m) => {
      const counts = [m.extension.tokens, ...LIBRARY_NAMES.map((n) => (finished(m.libraries[n]) ? m.libraries[n].tokens : NaN))];
      const agree = m.extension.exact && counts.every((c) => c === counts[0]);
      return [
        m.text.name,
        `${fmt.int(m.extension.tokens)}${m.extension.exact ? '' : ' (estimate)'}`,
        ...counts.slice(1).map((c) => (Number.isNaN(c) ? '—' : fmt.int(c))),
        agree ? 'yes' : 'NO',
      ];
    }),
  };
}

function worstCaseTable(worst: Measured[]): Table {
  return {
    title: 'Worst cases: time to a count, and the longest stall of the calling thread',
    columns: [
      'input',
      'kimi-budget: time',
      'kimi-budget: longest host stall, median (max)',
      'idle host, same time',
      'kimi-budget: count',
      ...LIBRARY_NAMES.map((n) => `${n}: time (= stall)`),
    ],
    rows: worst.map((m) => {
      const reference = LIBRARY_NAMES.map((n) => m.libraries[n]).find(finished);
      const error = reference ? ` (${signedPercent(m.extension.tokens / reference.tokens - 1)} vs exact)` : '';
      const count = m.extension.exact ? `${fmt.int(m.extension.tokens)} exact` : `≈${fmt.int(m.extension.tokens)} estimate${error}`;
      const libraries = LIBRARY_NAMES.map((n) => {
        const outcome = m.libraries[n];
        return finished(outcome) ? fmt.ms(outcome.passMs[0]) : `> ${fmt.seconds(outcome.afterMs)} (stopped)`;
      });
      const stall = `${fmt.ms(medianOf(m.stallsMs))} (${fmt.ms(Math.max(...m.stallsMs))})`;
      return [m.text.name, fmt.ms(m.extension.passes[0].ms), stall, fmt.ms(m.idleStallMs), count, ...libraries];
    }),
    note: `The extension counts in a worker thread: its stall is the longest event-loop delay of the calling thread (the extension host's) during the count (perf_hooks.monitorEventLoopDelay, 1 ms resolution), with a fresh counter (memo empty, tokenizer loaded), garbage collected first; median and max of ${worst[0]?.stallsMs.length} runs, the time of the median run. "Idle host": the same watch over an idle event loop for as long: what the machine alone does to the thread. The libraries count synchronously: whichever thread calls them stalls for the whole count (they ran in a worker here so that they could be stopped).`,
  };
}

/** Every fresh TokenCounter of the section started a worker: their starts, median (range). */
function startTable(all: Measured[]): Table {
  const starts = all.flatMap((m) => m.starts);
  const rows = [
    [
      `kimi-budget TokenCounter: first count (worker start + o200k load), ${starts.length} starts`,
      msSpread(starts.map((s) => s.ms)),
      msSpread(starts.map((s) => s.stallMs)),
    ],
  ];
  for (const name of LIBRARY_NAMES) {
    const loadMs = all[0].libraryLoadMs[name];
    rows.push([`${name}: load + first count`, loadMs === undefined ? '—' : fmt.ms(loadMs), '(on its own thread)']);
  }
  return { title: 'Loading the tokenizer (plain Node): median (range)', columns: ['what', 'time', 'longest host stall'], rows };
}

function goals(corpus: Measured[], worst: Measured[]): Goal[] {
  const stalls = [...corpus, ...worst].map((m) => ({
    name: m.text.name,
    medianMs: medianOf(m.stallsMs),
    maxMs: Math.max(...m.stallsMs),
    idleMs: m.idleStallMs,
  }));
  const worstMedian = stalls.reduce((a, b) => (b.medianMs > a.medianMs ? b : a));
  const worstSingle = stalls.reduce((a, b) => (b.maxMs > a.maxMs ? b : a));
  const startStalls = [...corpus, ...worst].flatMap((m) => m.starts.map((s) => s.stallMs));
  const longRun = worst[0];
  const throughput = corpus.map((m) => ({ m, raw: m.libraries['js-tiktoken'], rawFirstMs: m.libraryFirstMs['js-tiktoken'] }));
  // Slower only if the medians say so and the runs do not overlap: a gap within the run-to-run spread is a tie.
  const overlaps = ({ m, rawFirstMs }: (typeof throughput)[number]) =>
    Math.min(...m.extensionFirstMs) <= Math.max(...rawFirstMs) && Math.min(...rawFirstMs) <= Math.max(...m.extensionFirstMs);
  const behind = throughput.filter(({ m, raw }) => finished(raw) && m.extension.passes[0].ms > raw.passMs[0]);
  const slower = behind.filter((t) => !overlaps(t));
  const ties = behind.filter(overlaps);
  const range = (bytes: number, times: number[]) => `${rate(bytes, Math.max(...times))}–${rate(bytes, Math.min(...times))}`;
  const why = ({ m }: (typeof throughput)[number]): string => {
    if (/[\u4e00-\u9fff]/.test(m.text.text.slice(0, 10_000))) {
      return `${m.text.name}: the extension runs js-tiktoken's own merge on every distinct piece, and here the distinct pieces (runs of Han characters, whole pieces for o200k's pattern) carry the cost, so its memo saves little on a first pass and the split and the worker round trip are left over; tiktoken's WASM merge is the faster core on such text`;
    }
    return `${m.text.name}: the piece-by-piece split, the memo's misses on a first pass and the worker round trip cost more than the memo saves`;
  };
  return [
    {
      goal: `No input up to 10 MB stalls the extension host more than ${STALL_GOAL_MS} ms (median of runs)`,
      met: worstMedian.medianMs <= STALL_GOAL_MS,
      measured: `longest stall (median of runs) ${fmt.ms(worstMedian.medianMs)}, on the ${worstMedian.name} (an idle host: ${fmt.ms(worstMedian.idleMs)} over as long); longest single run ${fmt.ms(worstSingle.maxMs)} (${worstSingle.name}); starting the worker and loading o200k (once per session, not an input): ${fmt.ms(medianOf(startStalls))} median, ${fmt.ms(Math.max(...startStalls))} at most`,
      limitedBy:
        worstMedian.medianMs <= STALL_GOAL_MS
          ? undefined
          : worstMedian.idleMs > STALL_GOAL_MS
            ? `the machine: an idle event loop was held up ${fmt.ms(worstMedian.idleMs)} over as long`
            : `the host's own share of a count: copying the text into the worker's message (a structured copy on the host thread) and collecting it afterwards`,
    },
    {
      goal: `100,000 × "a" gets a count (exact or a bounded, labelled estimate) within ${LONG_RUN_GOAL_MS} ms`,
      met: longRun.extension.passes[0].ms <= LONG_RUN_GOAL_MS,
      measured: `${fmt.ms(longRun.extension.passes[0].ms)}, ${longRun.extension.exact ? 'exact' : 'labelled estimate (exact: false)'}`,
      limitedBy: longRun.extension.passes[0].ms <= LONG_RUN_GOAL_MS ? undefined : 'the chunked count of the long piece in the worker',
    },
    {
      goal: "Throughput on the corpus at least raw js-tiktoken's (first pass, median run; a gap within the run-to-run spread counts as a tie)",
      met: slower.length === 0,
      measured: [
        throughput
          .map(({ m, raw }) =>
            finished(raw)
              ? `${m.text.name} ${rate(m.bytes, m.extension.passes[0].ms)} vs ${rate(m.bytes, raw.passMs[0])} (${fmt.ratio(raw.passMs[0] / m.extension.passes[0].ms)})`
              : `${m.text.name}: raw stopped`,
          )
          .join('; '),
        ...ties.map(
          ({ m, rawFirstMs }) => `tie on ${m.text.name}: runs ${range(m.bytes, m.extensionFirstMs)} against ${range(m.bytes, rawFirstMs)}`,
        ),
      ].join('; '),
      limitedBy: slower.length ? slower.map(why).join('; ') : undefined,
    },
  ];
}

function signedPercent(x: number): string {
  return `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)}%`;
}
