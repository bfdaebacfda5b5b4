import type { Goal } from '../report/goal';
import { fmt, Table } from '../report/table';
import { CLIENTS } from './clients/all';
import { ENGINE_QUEUE_OPTIONS, engineClient } from './clients/engine';
import { LOOPBACK_MARGIN_MS, LOOPBACK_WINDOW_MS, LoopbackResult } from './loopback';
import type { RunResult } from './simulate';
import type { Workload } from './workloads';

const BASELINES = ['retry-on-429', 'fixed delay', 'bottleneck'];
const WITHIN_ORACLE = 0.05;

function completion(run: RunResult): string {
  return run.stoppedAtHorizon
    ? `> ${fmt.minutes(run.completionMs)} (${run.finished}/${run.workload.prompts.length} answered)`
    : fmt.minutes(run.completionMs);
}

function ratio(run: RunResult, oracle: RunResult): string {
  return `${run.stoppedAtHorizon ? '> ' : ''}${fmt.ratio(run.completionMs / oracle.completionMs)}`;
}

function refusals(run: RunResult): string {
  if (!run.refusals) return '0';
  const by = Object.entries(run.refusalsBy)
    .filter(([, n]) => n > 0)
    .map(([limit, n]) => `${limit.toUpperCase()} ${fmt.int(n)}`);
  return `${fmt.int(run.refusals)} (${by.join(', ')})`;
}

export function workloadTable(workload: Workload, runs: RunResult[]): Table {
  const oracle = runs[0];
  const teammate = Boolean(workload.teammate);
  const gaveUp = runs.some((r) => r.gaveUp > 0);
  const wait = (ms: number, run: RunResult) => `${run.stoppedAtHorizon ? '≥ ' : ''}${fmt.wait(ms)}`;
  return {
    title: `${workload.title} — ${fmt.int(workload.prompts.length)} prompts`,
    columns: [
      'client',
      'last answer',
      '× oracle',
      '429s',
      'budget burnt by refusals (req / tokens)',
      'wait p50',
      'wait p95',
      ...(teammate ? ["teammate's requests refused"] : []),
      ...(gaveUp ? ['prompts given up (sent again)'] : []),
    ],
    rows: runs.map((run) => [
      run.client,
      completion(run),
      ratio(run, oracle),
      refusals(run),
      `${fmt.int(run.burntRequests)} / ${fmt.kTokens(run.burntTokens)}`,
      wait(run.waitP50Ms, run),
      wait(run.waitP95Ms, run),
      ...(teammate ? [`${fmt.int(run.teammateRefusals)} of ${fmt.int(run.teammateRequests)}`] : []),
      ...(gaveUp ? [fmt.int(run.gaveUp)] : []),
    ]),
    note: workload.description,
  };
}

export function sensitivityTable(list: readonly Workload[], free: Map<string, RunResult[]>): Table {
  return {
    title: 'The same runs if refused requests were free (not charged): last answer × oracle (429s)',
    columns: ['workload', ...CLIENTS.slice(1).map((c) => c.name)],
    rows: list.map((w) => {
      const runs = free.get(w.id)!;
      return [w.id, ...runs.slice(1).map((r) => `${ratio(r, runs[0])} (${fmt.int(r.refusals)})`)];
    }),
    note: 'This is the rule of test/support/fakeMoonshot.ts ("Moonshot charges at admission only"); the tables above follow Moonshot\'s documentation ("failed and retried requests still count").',
  };
}

export function loopbackTable(results: LoopbackResult[]): Table {
  return {
    title: `Real time on loopback: engine + KimiClient + test/support/fakeMoonshot.ts, ${LOOPBACK_WINDOW_MS / 1000} s windows, ${results[0] ? 60 : 0} prompts at once`,
    columns: ['limits', 'client', 'all answered in', 'admissions span', 'ideal span', '× ideal', 'requests sent', '429s', 'answered'],
    rows: results.map((r) => {
      const refused = Object.values(r.refused).reduce((a, b) => a + b, 0);
      return [
        `${r.variant.title}: ${r.variant.rpm} RPM, ${fmt.int(r.variant.tpm)} TPM, max_tokens ${r.variant.maxTokens}`,
        r.client,
        `${r.seconds.toFixed(2)} s`,
        `${r.admissionSpanS.toFixed(2)} s`,
        `${r.idealSpanS.toFixed(2)} s`,
        fmt.ratio(r.admissionSpanS / r.idealSpanS),
        fmt.int(r.requests),
        fmt.int(refused),
        `${r.answered}/60`,
      ];
    }),
    note: `The engine runs as in the extension: local o200k counts (TokenCounter) calibrated by the answers, Budget with windowMs ${LOOPBACK_WINDOW_MS} and marginMs ${LOOPBACK_MARGIN_MS} (the default margin in proportion). The server counts prompts with cl100k plus framing and does not charge refusals. Ideal span: the first to last admission of a client that sends each prompt, in order, the instant the server's window has room, for the server's own counts.`,
  };
}

export function goals(list: readonly Workload[], charged: Map<string, RunResult[]>, loopback: LoopbackResult[]): Goal[] {
  const engineRuns = (teammate: boolean) =>
    list
      .filter((w) => Boolean(w.teammate) === teammate)
      .map((w) => ({ runs: charged.get(w.id)!, engine: charged.get(w.id)!.find((r) => r.client === engineClient.name)! }));
  const alone = engineRuns(false);
  const refused = alone.filter(({ engine }) => engine.refusals > 0);
  const loopbackRefused = loopback.filter((r) => r.client === 'engine' && Object.keys(r.refused).length > 0);
  const ratios = alone.map(({ runs, engine }) => ({ id: engine.workload.id, ratio: engine.completionMs / runs[0].completionMs }));
  const worst = ratios.reduce((a, b) => (b.ratio > a.ratio ? b : a));
  const shared = engineRuns(true).map(({ runs, engine }) => {
    const baselines = runs.filter((r) => BASELINES.includes(r.client));
    const beats = (b: RunResult) => engine.refusals < b.refusals && finishesEarlier(engine, b);
    return {
      engine,
      baselines,
      fewer: baselines.every((b) => engine.refusals < b.refusals),
      earlier: baselines.every((b) => finishesEarlier(engine, b)),
      beatenBy: baselines.filter((b) => !beats(b)),
    };
  });
  const sharedMet = shared.every((s) => s.fewer && s.earlier);
  return [
    {
      goal: 'Engine: zero 429s on every workload without a hidden second client',
      met: refused.length === 0 && loopbackRefused.length === 0,
      measured: `simulated: ${alone.map(({ engine }) => `${engine.workload.id} ${engine.refusals}`).join(', ')}; real-time loopback: ${loopback
        .filter((r) => r.client === 'engine')
        .map((r) => `${r.variant.id} ${Object.values(r.refused).reduce((a, b) => a + b, 0)}`)
        .join(', ')}`,
      limitedBy:
        refused.length || loopbackRefused.length
          ? "see the tables: the engine was refused where its own count of the window differed from the server's"
          : undefined,
    },
    {
      goal: `Engine: completion within ${WITHIN_ORACLE * 100}% of the oracle on those workloads`,
      met: worst.ratio <= 1 + WITHIN_ORACLE,
      measured: ratios.map((r) => `${r.id} ${fmt.ratio(r.ratio)}`).join(', '),
      limitedBy:
        worst.ratio <= 1 + WITHIN_ORACLE
          ? undefined
          : `${worst.id}: each time the window turns over, the engine waits out its safety margin (marginMs) and the delay between the server's admission and the answer's headers, which it counts from`,
    },
    {
      goal: 'With the hidden teammate: fewer 429s and an earlier finish than every baseline',
      met: sharedMet,
      measured: shared
        .map(
          (s) =>
            `${s.engine.workload.id}: engine ${completion(s.engine)}, ${fmt.int(s.engine.refusals)} 429s vs ${s.baselines.map((b) => `${b.client} ${completion(b)}, ${fmt.int(b.refusals)}`).join('; ')}`,
        )
        .join(' — '),
      limitedBy: sharedMet
        ? undefined
        : shared
            .filter((s) => s.beatenBy.length)
            .map(teammateShortfall)
            .join(' — '),
    },
  ];
}

/** The tables' main lines, in words; every number comes from the runs. */
export function summary(list: readonly Workload[], charged: Map<string, RunResult[]>, free: Map<string, RunResult[]>): string[] {
  const alone = list.filter((w) => !w.teammate);
  const shared = list.filter((w) => w.teammate);
  const runsOf = (results: Map<string, RunResult[]>, workloads: readonly Workload[], client: string) =>
    workloads.map((w) => ({ run: results.get(w.id)!.find((r) => r.client === client)!, oracle: results.get(w.id)![0] }));
  const ratioRange = (rows: { run: RunResult; oracle: RunResult }[]) => {
    const ratios = rows.map(({ run, oracle }) => run.completionMs / oracle.completionMs);
    return `from ${fmt.ratio(Math.min(...ratios))} to ${rows.some((r) => r.run.stoppedAtHorizon) ? 'more than ' : ''}${fmt.ratio(Math.max(...ratios))}`;
  };
  const total429 = (rows: { run: RunResult }[]) => fmt.int(rows.reduce((sum, { run }) => sum + run.refusals, 0));
  const engine = runsOf(charged, alone, engineClient.name);
  const lines = [
    `Alone on the account, the engine was refused ${total429(engine)} times in ${alone.length} workloads; its last answer came ${ratioRange(engine)} the oracle's time.`,
  ];
  for (const name of BASELINES) {
    const rows = runsOf(charged, alone, name);
    const stuck = rows.filter((r) => r.run.stoppedAtHorizon);
    const freeRows = runsOf(free, alone, name);
    lines.push(
      `${name}: ${ratioRange(rows)} the oracle's time, ${total429(rows)} refusals${stuck.length ? `, ${stuck.length} of ${rows.length} workloads unfinished at the cut-off (${stuck.map((r) => r.run.workload.id).join(', ')})` : ''}; if refusals were free: ${ratioRange(freeRows)}, ${total429(freeRows)} refusals.`,
    );
  }
  for (const w of shared) {
    const runs = charged.get(w.id)!;
    const byTime = runs.slice(1).sort((a, b) => (finishesEarlier(a, b) ? -1 : finishesEarlier(b, a) ? 1 : 0));
    const mine = runs.find((r) => r.client === engineClient.name)!;
    const other = byTime.find((r) => r !== mine)!;
    const engineSaid = mine.stoppedAtHorizon
      ? `had answered ${mine.finished} of ${w.prompts.length} prompts at the cut-off`
      : `finished at ${fmt.ratio(mine.completionMs / runs[0].completionMs)} the oracle's time`;
    const rank = byTime[0] === mine ? `the quickest client; the next was ${other.client}` : `the quickest client was ${byTime[0].client}`;
    const lead = byTime[0] === mine ? other : byTime[0];
    lines.push(
      `${w.id}: the engine ${engineSaid} with ${fmt.int(mine.refusals)} refusals, ${rank} (${completion(lead)}, ${fmt.ratio(lead.completionMs / runs[0].completionMs)}, ${fmt.int(lead.refusals)} refusals).`,
    );
  }
  return lines;
}

/**
 * Why the engine is not ahead on a teammate workload, in measured terms only: who is ahead and by
 * how much, which limit the engine's refusals were for, what it gave up, what the teammate suffered.
 */
function teammateShortfall(s: { engine: RunResult; beatenBy: RunResult[] }): string {
  const { engine } = s;
  const ahead = s.beatenBy.map(
    (b) =>
      `${b.client} (${completion(b)}, ${fmt.int(b.refusals)} 429s, its teammate refused ${fmt.int(b.teammateRefusals)} of ${fmt.int(b.teammateRequests)})`,
  );
  const [topLimit, topCount] = Object.entries(engine.refusalsBy).reduce((a, b) => (b[1] > a[1] ? b : a));
  const parts = [
    `${engine.workload.id}: the engine (${completion(engine)}, ${fmt.int(engine.refusals)} 429s, its teammate refused ${fmt.int(engine.teammateRefusals)} of ${fmt.int(engine.teammateRequests)}) is not ahead of ${ahead.join(', ')}`,
    engine.refusals ? `${fmt.int(topCount)} of its 429s were for ${topLimit.toUpperCase()}` : '',
    engine.gaveUp ? `it gave ${fmt.int(engine.gaveUp)} sends up after ${ENGINE_QUEUE_OPTIONS.maxAttempts} refusals each` : '',
    'it can learn of the teammate only from refusals, and the server charges every one',
    s.beatenBy.some((b) => b.client === 'fixed delay')
      ? "a fixed delay never sends faster than one request every 60/RPM s, so it leaves most of the teammate's share free without having to learn it"
      : '',
  ];
  return parts.filter(Boolean).join('; ');
}

/** Earlier last answer; between runs stopped at the cut-off, the one that had answered more. */
function finishesEarlier(a: RunResult, b: RunResult): boolean {
  if (a.stoppedAtHorizon !== b.stoppedAtHorizon) return !a.stoppedAtHorizon;
  return a.stoppedAtHorizon ? a.finished > b.finished : a.completionMs < b.completionMs;
}
