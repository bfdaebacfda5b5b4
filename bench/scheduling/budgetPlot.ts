import { niceCeil, Panel, Series, svgChart } from '../report/svgPlot';
import type { Charge } from './moonshotModel';
import type { RunResult } from './simulate';

const STEP_MS = 5_000;
const CLIP_PERCENT = 300;

/**
 * For each STEP_MS, the fullest the trailing window got (as a share of the limit), counting some of
 * the charges. The peak, not a sample: a client that sends a window's budget at once empties the
 * window for a moment each minute, and a sample would catch those moments at random.
 */
function trailingPeak(
  charges: readonly Charge[],
  keep: (c: Charge) => boolean,
  size: (c: Charge) => number,
  capacity: number,
  windowMs: number,
  endMs: number,
): [number, number][] {
  const points: [number, number][] = [];
  const kept = charges.filter(keep);
  let from = 0;
  let to = 0;
  let sum = 0;
  const leave = (t: number) => {
    while (from < to && kept[from].at <= t - windowMs) sum -= size(kept[from++]);
  };
  for (let start = 0; start < endMs; start += STEP_MS) {
    leave(start);
    let peak = sum;
    // The sum only rises when a charge comes in: the peak is just after one of them (or at the start).
    while (to < kept.length && kept[to].at < start + STEP_MS) {
      leave(kept[to].at);
      sum += size(kept[to++]);
      peak = Math.max(peak, sum);
    }
    points.push([(start + STEP_MS) / 60_000, Math.min(CLIP_PERCENT, (100 * peak) / capacity)]);
  }
  return points;
}

function panel(title: string, yLabel: string, engine: RunResult, retry: RunResult, size: (c: Charge) => number, capacity: number): Panel {
  const endMs = niceCeil((Math.max(engine.completionMs, 60_000) * 1.1) / 60_000) * 60_000;
  const user = (c: Charge) => c.client === 'user';
  const series = (name: string, run: RunResult, keep: (c: Charge) => boolean, color: string, dashed = false): Series => ({
    name,
    color,
    dashed,
    points: trailingPeak(run.charges, keep, size, capacity, 60_000, endMs),
  });
  return {
    title,
    xLabel: retry.stoppedAtHorizon || retry.completionMs > endMs ? 'minutes (retry-on-429 is still running at the right edge)' : 'minutes',
    yLabel,
    yMax: CLIP_PERCENT,
    xMax: endMs / 60_000,
    marks: [{ y: 100, label: 'the limit' }],
    series: [
      series('engine: admitted', engine, (c) => user(c) && c.admitted, '#1f5fbf'),
      series('retry-on-429: admitted', retry, (c) => user(c) && c.admitted, '#e07b00'),
      series(`retry-on-429: + refused (cut at ${CLIP_PERCENT}%)`, retry, user, '#e07b00', true),
    ],
  };
}

/** Budget use over time, engine vs retry-on-429, on the two bursts (refused requests charged). */
export function budgetPlot(tpmBurst: { engine: RunResult; retry: RunResult }, rpmBurst: { engine: RunResult; retry: RunResult }): string {
  const { tpm } = tpmBurst.engine.workload.limits;
  const { rpm } = rpmBurst.engine.workload.limits;
  return svgChart('Budget use over time: kimi-budget engine vs retry-on-429 (simulated Moonshot, refusals charged)', [
    panel(
      `${tpmBurst.engine.workload.title}: tokens debited in a trailing 60 s (peak per 5 s)`,
      `% of ${tpm.toLocaleString('en-US')} TPM`,
      tpmBurst.engine,
      tpmBurst.retry,
      (c) => c.tokens,
      tpm,
    ),
    panel(
      `${rpmBurst.engine.workload.title}: requests debited in a trailing 60 s (peak per 5 s)`,
      `% of ${rpm} RPM`,
      rpmBurst.engine,
      rpmBurst.retry,
      () => 1,
      rpm,
    ),
  ]);
}
