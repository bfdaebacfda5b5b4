import type { Goal } from '../report/goal';
import { medianOf, msSpread } from '../report/stats';
import { fmt, Table } from '../report/table';
import { fromRoot } from '../paths';
import { figuresFromVsCode } from '../vscodeRun';
import type { SendFigures, SendRun } from './extensionTests';
import type { SendPhase } from '../../src/ui/sendTimeline';

const MARKER = 'KIMI_BENCH_SEND';
/** Fresh windows per way of sending the first prompt; each then sends a few more (warm). */
const WINDOWS = 3;
/** The first prompt is sent the instant it is selected (the worst case), or as a person would, a moment later. */
const AT_ONCE_MS = 0;
const PERSON_MS = 1_500;
const COLD_GOAL_MS = 1_000;
const WARM_GOAL_MS = 150;

/** The phases, in the order a send reaches them, and what each step between two of them is. */
const STEPS: [SendPhase, string][] = [
  ['history', 'waiting for the history to load'],
  ['key', 'reading the key'],
  ['counted', 'counting the request (the tokenizer loads on the first count)'],
  ['admitted', 'admission by the budget'],
  ['requestLeft', 'until the request leaves'],
  ['responded', 'the server, until its response begins'],
  ['answered', 'the server, until the answer has arrived'],
  ['recorded', 'kept in the history, the editor told'],
];

export interface SendPathResult {
  readonly tables: Table[];
  readonly goals: Goal[];
  readonly failure?: string;
}

/**
 * The send path in fresh windows of VS Code 1.96.4 (code-server + Chromium, test/vscode): a prompt
 * sent from the command palette right after activation (the tokenizer not loaded), then five more.
 */
export async function measureSendPath(
  log: (line: string) => void,
  vsix = fromRoot('.vscode-test', 'kimi-budget.vsix'),
): Promise<SendPathResult> {
  const runs: SendRun[] = [];
  for (const pauseMs of [AT_ONCE_MS, PERSON_MS]) {
    for (let i = 0; i < WINDOWS; i++) {
      const outcome = await runInVsCode(vsix, pauseMs, log);
      if (typeof outcome === 'string') {
        log(`  send path not measured: ${outcome}`);
        return { tables: [], goals: [], failure: outcome };
      }
      runs.push(outcome);
    }
  }
  const atOnce = runs.filter((r) => r.pauseMs === AT_ONCE_MS);
  const person = runs.filter((r) => r.pauseMs === PERSON_MS);
  const warm = runs.flatMap((r) => r.warm);
  return {
    tables: [
      overheadTable(atOnce, person, warm),
      phaseTable(
        atOnce.map((r) => r.cold),
        person.map((r) => r.cold),
        warm,
      ),
    ],
    goals: goals(atOnce, person, warm),
  };
}

async function runInVsCode(vsix: string, pauseMs: number, log: (line: string) => void): Promise<SendRun | string> {
  const run = await figuresFromVsCode<SendRun>({
    vsix,
    module: fromRoot('out', 'bench', 'send', 'extensionTests.js'),
    marker: MARKER,
    env: { MOONSHOT_API_KEY: 'sk-bench-send-key', KIMI_BENCH_PAUSE_MS: String(pauseMs) },
  });
  if (typeof run !== 'string') {
    const warm = run.warm.map((w) => fmt.ms(w.overheadMs)).join(', ');
    log(`  window (first prompt sent ${pauseMs} ms after it was selected): cold overhead ${fmt.ms(run.cold.overheadMs)}, warm ${warm}`);
  }
  return run;
}

function overheadTable(atOnce: SendRun[], person: SendRun[], warm: SendFigures[]): Table {
  const row = (what: string, value: (f: SendFigures) => number) => [
    what,
    msSpread(atOnce.map((r) => value(r.cold))),
    msSpread(person.map((r) => value(r.cold))),
    msSpread(warm.map(value)),
  ];
  return {
    title: 'A send from the command palette, in VS Code 1.96.4 (packaged .vsix): median (range)',
    columns: [
      'what',
      `cold, sent the instant it was selected (${atOnce.length} fresh windows)`,
      `cold, sent ${fmt.seconds(PERSON_MS)} after it was selected (${person.length} fresh windows)`,
      `warm (${warm.length} later sends)`,
    ],
    rows: [
      row('end to end: the command to the whole answer in its visible editor', (f) => f.endToEndMs),
      row("the server's time: the request's arrival to the last byte of the answer", (f) => f.serverMs),
      row("overhead: end to end minus the server's time", (f) => f.overheadMs),
    ],
    note: `Each window is a fresh code-server 4.96.4 in headless Chromium, with an empty workspace and the .vsix installed in an empty profile; the Moonshot-like server runs on loopback inside the extension host and streams an answer in about half a second. The first prompt is selected in a new plain-text editor and sent either at once (nothing has loaded: the tokenizer starts with this send's count) or ${fmt.seconds(PERSON_MS)} later, as a person reaching for the command palette (the selection's count in the status bar has started the tokenizer by then). The warm sends follow, each selected in a new editor and sent ${fmt.seconds(1_500)} after the answer before it was in.`,
  };
}

function phaseTable(atOnce: SendFigures[], person: SendFigures[], warm: SendFigures[]): Table {
  const at = (f: SendFigures, phase: SendPhase) => f.timeline?.ms[phase];
  const step = (runs: SendFigures[], i: number): string => {
    const deltas = runs.map((f) => {
      const end = at(f, STEPS[i][0]);
      const start = i === 0 ? 0 : at(f, STEPS[i - 1][0]);
      return end === undefined || start === undefined ? undefined : end - start;
    });
    return deltas.every((d) => d !== undefined) ? msSpread(deltas as number[]) : 'not kept';
  };
  const shown = (runs: SendFigures[]) => {
    const values = runs.map((f) => at(f, 'shown'));
    return values.every((v) => v !== undefined) ? msSpread(values as number[]) : 'not kept';
  };
  return {
    title: "Where the time of a send goes: the extension's own marks, median (range) per step",
    columns: ['step', 'cold, at once', `cold, after ${fmt.seconds(PERSON_MS)}`, 'warm'],
    rows: [
      ...STEPS.map(([, what], i) => [what, step(atOnce, i), step(person, i), step(warm, i)]),
      ["(beside) the command to its answer's editor shown", shown(atOnce), shown(person), shown(warm)],
    ],
    note: 'Each step runs from the end of the one above to a mark the extension keeps for every send (src/ui/sendTimeline.ts). The editor opens beside the send, not on its path: the answer streams into the conversation whether or not the editor is open yet. After the last step, the editor still has to show the final text (VS Code re-reads the document).',
  };
}

function goals(atOnce: SendRun[], person: SendRun[], warm: SendFigures[]): Goal[] {
  const overhead = (runs: SendRun[]) => medianOf(runs.map((r) => r.cold.overheadMs));
  const personMs = overhead(person);
  const atOnceMs = overhead(atOnce);
  const warmMs = medianOf(warm.map((f) => f.overheadMs));
  const counting = medianOf(atOnce.map((r) => (r.cold.timeline?.ms.counted ?? NaN) - (r.cold.timeline?.ms.key ?? NaN)));
  const started = (runs: SendRun[]) =>
    `the tokenizer had started before the send in ${runs.filter((r) => r.tokenizerStartedBeforeFirstSend).length} of ${runs.length}`;
  return [
    {
      goal: `A cold first send under ${fmt.ms(COLD_GOAL_MS)} plus the server's time (median of fresh windows, the prompt sent ${fmt.seconds(PERSON_MS)} after it was selected)`,
      met: personMs < COLD_GOAL_MS,
      measured: `${msSpread(person.map((r) => r.cold.overheadMs))} over the server's time (${started(person)}); sent the instant it was selected: ${msSpread(atOnce.map((r) => r.cold.overheadMs))} (${started(atOnce)})`,
      limitedBy:
        personMs < COLD_GOAL_MS && atOnceMs < COLD_GOAL_MS
          ? undefined
          : `sent at once, the first count loads the tokenizer on the send's path (${Number.isNaN(counting) ? 'not kept' : fmt.ms(counting)} while the window starts its first editor beside it)`,
    },
    {
      goal: `A warm send under ${fmt.ms(WARM_GOAL_MS)} plus the server's time (median send)`,
      met: warmMs < WARM_GOAL_MS,
      measured: `${msSpread(warm.map((f) => f.overheadMs))} over the server's time, ${warm.length} sends`,
      limitedBy: warmMs < WARM_GOAL_MS ? undefined : 'see the steps above',
    },
  ];
}
