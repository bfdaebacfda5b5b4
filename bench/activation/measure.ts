import * as fs from 'node:fs';
import * as os from 'node:os';
import type { Goal } from '../report/goal';
import { medianOf, msSpread } from '../report/stats';
import { fmt, Table } from '../report/table';
import { fromRoot } from '../paths';
import { figuresFromVsCode } from '../vscodeRun';
import type { ActivationFigures } from './extensionTests';

const MARKER = 'KIMI_BENCH_ACTIVATION';
const VSIX = fromRoot('.vscode-test', 'kimi-budget.vsix');
const ACTIVATE_GOAL_MS = 50;
const FIRST_COUNT_GOAL_MS = 1_000;
/** Fresh windows whose first count comes right after activation (the goal's case): the median is judged. */
const WINDOWS_AT_ONCE = 3;
/** One more window waits this long after activation, so that VS Code's own start-up is over. */
const SETTLE_MS = 10_000;

export interface ActivationResult {
  readonly tables: Table[];
  readonly goals: Goal[];
  readonly failure?: string;
}

/**
 * The packaged extension in fresh windows of VS Code 1.96.4 (code-server + Chromium, test/vscode):
 * first counts right after activation, while VS Code is still starting, and once a window has
 * settled. `plainNodeStartMs`: the same worker start measured outside VS Code, for comparison.
 */
export async function measureActivation(log: (line: string) => void, plainNodeStartMs: number, sizes: Table): Promise<ActivationResult> {
  const atOnce: ActivationFigures[] = [];
  let settled: ActivationFigures | undefined;
  for (const settleMs of [...Array<number>(WINDOWS_AT_ONCE).fill(0), SETTLE_MS]) {
    const outcome = await runInVsCode(settleMs, log);
    if (typeof outcome === 'string') {
      log(`  activation not measured: ${outcome}`);
      return { tables: [sizes], goals: [], failure: outcome };
    }
    if (settleMs) settled = outcome;
    else atOnce.push(outcome);
  }
  return { tables: [timingTable(atOnce, settled!), sizes], goals: goals(atOnce, settled!, plainNodeStartMs) };
}

/** The figures the extension-tests module logged, or why there are none. */
function runInVsCode(settleMs: number, log: (line: string) => void): Promise<ActivationFigures | string> {
  return figuresFromVsCode<ActivationFigures>({
    vsix: VSIX,
    module: fromRoot('out', 'bench', 'activation', 'extensionTests.js'),
    marker: MARKER,
    env: { KIMI_BENCH_SETTLE_MS: String(settleMs) },
    log: (line) => line.includes(MARKER) && log(`  ${line.slice(line.indexOf(MARKER))}`),
  });
}

/** "median (min–max)" over the windows. */
function spread(runs: ActivationFigures[], value: (f: ActivationFigures) => number): string {
  return msSpread(runs.map(value));
}

function timingTable(atOnce: ActivationFigures[], settled: ActivationFigures): Table {
  const row = (what: string, value: (f: ActivationFigures) => number) => [what, spread(atOnce, value), fmt.ms(value(settled))];
  const started = (f: ActivationFigures) => `${f.tokenizerStartedAtActivation} / ${f.tokenizerStartedBeforeFirstCount}`;
  return {
    title: 'Activation and first count, in VS Code 1.96.4 (packaged .vsix)',
    columns: [
      'what',
      `right after activation: median (range) of ${atOnce.length} windows`,
      `${settled.settledMs / 1000} s after activation (1 window)`,
    ],
    rows: [
      row('activate() (measured inside it)', (f) => f.activationMs),
      ['tokenizer started at activation / before the first count', atOnce.map(started).join(', '), started(settled)],
      row('first count, "Kimi: Count Tokens in Selection" (worker start + o200k load + count)', (f) => f.firstCountMs),
      row(
        `first count in the status bar, from the selection (its ${atOnce[0].statusBarDebounceMs} ms debounce included)`,
        (f) => f.firstStatusBarMs,
      ),
      row('later count, command', (f) => f.warmCountMs),
      row('later count in the status bar, from the selection (debounce included)', (f) => f.warmStatusBarMs),
    ],
    note: "Each window is a fresh code-server 4.96.4 in headless Chromium on this machine, with the .vsix installed in an empty profile. The selection is a 3-line paragraph in a plain-text editor (a markdown one would start VS Code's markdown language server at the same moment). Right after activation the count competes for the CPU with the rest of VS Code's start-up.",
  };
}

function workerSize(): string {
  const file = fromRoot('dist', 'tokenWorker.js');
  return fs.existsSync(file) ? fmt.bytes(fs.statSync(file).size) : 'size unknown';
}

/** Read at the start of the run, right after `npm run vsix` built them (others may rebuild dist/ later). */
export function packageSizes(): Table {
  const size = (file: string) => (fs.existsSync(fromRoot(file)) ? fmt.bytes(fs.statSync(fromRoot(file)).size) : 'missing');
  return {
    title: 'Package size',
    columns: ['file', 'size'],
    rows: [
      ['dist/extension.js (extension host bundle)', size('dist/extension.js')],
      ['dist/tokenWorker.js (tokenizer worker, o200k ranks included)', size('dist/tokenWorker.js')],
      ['.vscode-test/kimi-budget.vsix', size('.vscode-test/kimi-budget.vsix')],
    ],
    note: 'kB and MB are 10^3 and 10^6 bytes; `npm run vsix` builds the bundles minified (vscode:prepublish).',
  };
}

function goals(atOnce: ActivationFigures[], settled: ActivationFigures, plainNodeStartMs: number): Goal[] {
  const all = [...atOnce, settled];
  // Judged on the median window, like the first count: one window of four can be held up by the machine.
  const activation = medianOf(all.map((f) => f.activationMs));
  const slowest = Math.max(...all.map((f) => f.activationMs));
  const tokenizerEarly = all.some((f) => f.tokenizerStartedAtActivation);
  const firstCount = medianOf(atOnce.map((f) => f.firstCountMs));
  const met = firstCount < FIRST_COUNT_GOAL_MS;
  return [
    {
      goal: `activate() under ${ACTIVATE_GOAL_MS} ms (median window), tokenizer not loaded`,
      met: activation < ACTIVATE_GOAL_MS && !tokenizerEarly,
      measured: `${fmt.ms(activation)} median of ${all.length} windows, ${fmt.ms(slowest)} the slowest; tokenizer started at activation: ${tokenizerEarly}`,
      limitedBy:
        activation < ACTIVATE_GOAL_MS ? undefined : 'the work done in activate(): settings, status bar items, command registration',
    },
    {
      goal: `First count of a small selection under ${FIRST_COUNT_GOAL_MS} ms (tokenizer load included; median window)`,
      met,
      measured: `${spread(atOnce, (f) => f.firstCountMs)} right after activation; ${fmt.ms(settled.firstCountMs)} once a window had settled; the same worker start in plain Node: ${fmt.ms(plainNodeStartMs)}. The status bar shows it after its ${settled.statusBarDebounceMs} ms debounce or the count, whichever ends later`,
      limitedBy: met
        ? undefined
        : `starting the worker thread and evaluating dist/tokenWorker.js (${workerSize()}, mostly the o200k ranks) in it, which takes ${fmt.ms(plainNodeStartMs)} in plain Node here; inside VS Code it competes for this machine's ${os.cpus().length} cores with the workbench${settled.firstCountMs < FIRST_COUNT_GOAL_MS ? ' (a settled window was within the goal)' : ' (a settled window too was over the goal)'}`,
    },
  ];
}
