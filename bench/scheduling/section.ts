import type { Goal } from '../report/goal';
import type { Table } from '../report/table';
import { budgetPlot } from './budgetPlot';
import { CLIENTS } from './clients/all';
import { engineClient } from './clients/engine';
import { oracleClient } from './clients/oracle';
import { retryOn429Client } from './clients/retryOn429';
import { LOOPBACK_VARIANTS, LoopbackResult, loopbackPrompts, runLoopback } from './loopback';
import { goals, loopbackTable, sensitivityTable, summary, workloadTable } from './report';
import { RunResult, simulate } from './simulate';
import { Workload, workloads } from './workloads';

const SEED = 7;

export interface SchedulingResult {
  readonly tables: Table[];
  readonly sensitivity: Table;
  readonly loopback: Table;
  readonly goals: Goal[];
  readonly svg: string;
  readonly workloads: readonly Workload[];
  /** What the tables say, in sentences built from their figures. */
  readonly summary: string[];
  /** Wall-clock seconds of the simulated runs. */
  readonly simulatedSeconds: number;
}

/** Every client through every workload: results by workload id, the oracle's first. */
async function runAll(list: readonly Workload[], chargeRefused: boolean, log: (line: string) => void): Promise<Map<string, RunResult[]>> {
  const results = new Map<string, RunResult[]>();
  for (const workload of list) {
    const oracle = await simulate(workload, oracleClient, { chargeRefused, horizonMs: 48 * 3_600_000, seed: SEED });
    const runs = [oracle];
    for (const client of CLIENTS.slice(1)) {
      runs.push(await simulate(workload, client, { chargeRefused, horizonMs: 4 * oracle.completionMs + 600_000, seed: SEED }));
    }
    log(
      `  ${workload.id}${chargeRefused ? '' : ' (refusals free)'}: ${runs.map((r) => `${r.client} ${(r.completionMs / oracle.completionMs).toFixed(3)}×/${r.refusals}`).join(', ')}`,
    );
    results.set(workload.id, runs);
  }
  return results;
}

export async function runScheduling(log: (line: string) => void): Promise<SchedulingResult> {
  const list = workloads();
  const started = performance.now();
  const charged = await runAll(list, true, log);
  const free = await runAll(list, false, log);
  const simulatedSeconds = (performance.now() - started) / 1000;

  log('  real-time loopback runs');
  const texts = loopbackPrompts();
  const loopback: LoopbackResult[] = [];
  for (const variant of LOOPBACK_VARIANTS) {
    for (const client of ['engine', 'retry-on-429'] as const) loopback.push(await runLoopback(variant, client, texts));
  }

  const find = (id: string, client: string) => charged.get(id)!.find((r) => r.client === client)!;
  return {
    tables: list.map((w) => workloadTable(w, charged.get(w.id)!)),
    sensitivity: sensitivityTable(list, free),
    loopback: loopbackTable(loopback),
    goals: goals(list, charged, loopback),
    svg: budgetPlot(
      { engine: find('burst-tpm', engineClient.name), retry: find('burst-tpm', retryOn429Client.name) },
      { engine: find('burst-rpm', engineClient.name), retry: find('burst-rpm', retryOn429Client.name) },
    ),
    workloads: list,
    summary: summary(list, charged, free),
    simulatedSeconds,
  };
}
