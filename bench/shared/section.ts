// Section 5: one budget for the account. (a) The hidden-teammate workloads again, the teammate now a
// second engine on the same account store (simulated time); (b) the cost of one admission against
// the number of spends the account holds, in the store the windows of a machine share.
import { teamThroughput } from './team';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalAccountStore } from '../../src/account/localAccount';
import { MemoryAccountStore } from '../../src/core/account';
import { Budget, DEFAULT_BUDGET_OPTIONS } from '../../src/core/budget';
import { Clock, systemClock } from '../../src/core/clock';
import { MemoryLedger, Spend } from '../../src/core/ledger';
import { Limits } from '../../src/core/limits';
import { SendQueue } from '../../src/core/sendQueue';
import { verdictFor } from '../../src/kimi/verdict';
import { Goal } from '../report/goal';
import { medianOf } from '../report/stats';
import { Table } from '../report/table';
import { callFor, Client } from '../scheduling/clients/client';
import { ENGINE_QUEUE_OPTIONS, engineRun } from '../scheduling/clients/engine';
import { oracleClient } from '../scheduling/clients/oracle';
import { Answer } from '../scheduling/moonshotModel';
import { simulate } from '../scheduling/simulate';
import { workloads } from '../scheduling/workloads';

export interface SharedBudgetResult {
  readonly tables: Table[];
  readonly goals: Goal[];
}

/** The user's engine and the teammate's, two queues on one account store: two windows sharing the budget. */
const sharedEngines: Client = {
  name: 'engine + teammate on one account store',
  description: "the user's queue and the teammate's, each a SendQueue on one MemoryAccountStore",
  runsTeammate: true,
  start({ clock, server, workload, random, finished }) {
    const { rpm, tpm, concurrency, tpd } = workload.limits;
    const limits: Limits = { requestsPerMinute: rpm, tokensPerMinute: tpm, concurrency, tokensPerDay: tpd };
    const store = new MemoryAccountStore(new Budget(limits, clock, new MemoryLedger(), DEFAULT_BUDGET_OPTIONS), clock, 'user');
    const user = new SendQueue<Answer>(store, clock, verdictFor, ENGINE_QUEUE_OPTIONS, random);
    const teammate = new SendQueue<Answer>(store, clock, verdictFor, ENGINE_QUEUE_OPTIONS, random);
    const mate = workload.teammate;
    if (mate) {
      const call = { client: 'teammate', promptTokens: mate.promptTokens, maxTokens: mate.maxTokens, outputTokens: mate.outputTokens };
      const send = () => {
        teammate
          .enqueue({ label: 'teammate', promptTokens: mate.promptTokens, maxTokens: mate.maxTokens, run: engineRun(server, clock, call) })
          .result.catch(() => undefined);
        clock.setTimer(mate.intervalMs, send);
      };
      clock.setTimer(mate.intervalMs / 2, send);
    }
    return (prompt) => {
      user
        .enqueue({
          label: `prompt ${prompt.id}`,
          promptTokens: prompt.promptTokens,
          maxTokens: workload.maxTokens,
          run: engineRun(server, clock, callFor(prompt, workload)),
        })
        .result.then(
          (answer) => finished(prompt, answer),
          () => undefined,
        );
    };
  },
};

async function teammateRuns(log: (line: string) => void): Promise<{ table: Table; goal: Goal }> {
  const rows: string[][] = [];
  let refusals = 0;
  let worst = 0;
  for (const workload of workloads().filter((w) => w.teammate)) {
    const options = { chargeRefused: true, horizonMs: 6 * 3_600_000, seed: 1 };
    const oracle = await simulate(workload, oracleClient, options);
    const shared = await simulate(workload, sharedEngines, options);
    const ratio = shared.completionMs / oracle.completionMs;
    refusals += shared.refusals + shared.teammateRefusals;
    worst = Math.max(worst, ratio);
    log(`  ${workload.id}: shared ${(shared.completionMs / 1000).toFixed(1)} s, oracle ${(oracle.completionMs / 1000).toFixed(1)} s`);
    rows.push([
      workload.title,
      `${(oracle.completionMs / 1000).toFixed(1)} s`,
      `${(shared.completionMs / 1000).toFixed(1)} s`,
      `${ratio.toFixed(3)}×`,
      String(shared.refusals),
      `${shared.teammateRefusals} of ${shared.teammateRequests}`,
    ]);
  }
  return {
    table: {
      title: 'The hidden-teammate workloads, the teammate a second engine on the same account store',
      columns: ['workload', "section 1's oracle: last answer", 'shared: last answer', '× that oracle', "user's 429s", "teammate's refused"],
      rows,
      note: "Section 1's oracle knows the server's state at every instant but shares the account with a teammate that sends blind: the teammate's requests that find the window full are refused and charged, and that burnt budget delays everyone. On one store the teammate waits its turn in the account's line instead, so nothing is refused and nothing burnt, and the user's last answer comes earlier than that oracle's. (No oracle of the two clients' combined traffic is computed here.)",
    },
    goal: {
      goal: "Two engines on one account store: no 429 for either; the user's last answer no later than section 1's oracle beside a blind teammate",
      met: refusals === 0 && worst <= 1,
      measured: `${refusals} refusals; the last answer at ${worst.toFixed(3)}× that oracle's, at worst`,
    },
  };
}

/** A day of spends, `count` of them spread over the last 23 hours. */
function dayOf(count: number, now: number): Spend[] {
  const span = 23 * 3_600_000;
  return Array.from({ length: count }, (_, i) => ({ id: `old-${i}`, at: now - span + (i * span) / count, requests: 1, tokens: 10 }));
}

const ROOMY: Limits = { requestsPerMinute: 1e9, tokensPerMinute: 1e12, concurrency: 0, tokensPerDay: 1e13 };

/** Median microseconds of one admission, and of one admission asked over the socket by a follower. */
async function admissionCost(count: number): Promise<{ local: number; coordinator: number; follower: number }> {
  const now = Date.now();
  const spends = dayOf(count, now);
  // The policy in one process: tryAdmit + release, no I/O.
  let t = now;
  const clock: Clock = { now: () => t, setTimer: () => () => undefined };
  const memory = new MemoryAccountStore(new Budget(ROOMY, clock, new MemoryLedger(spends)), clock);
  const local: number[] = [];
  for (let i = 0; i < 2_000; i++) {
    t += 1;
    memory.join({ id: `t${i}`, tokens: 100, order: t });
    const start = performance.now();
    const admission = memory.tryAdmit(`t${i}`, 100, `s${i}`)!;
    local.push((performance.now() - start) * 1000);
    memory.release(admission);
  }
  // The local store: a coordinator and a follower over a real socket, the day's spends held by both.
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'kb-bench-'));
  const open = (holder: string) =>
    new LocalAccountStore({
      identity: `bench${count}`,
      holder,
      limits: ROOMY,
      clock: systemClock,
      ledger: new MemoryLedger(spends),
      folder,
    });
  const coordinator = open('a');
  await coordinator.ready();
  const follower = open('b');
  await follower.ready();
  const timed = async (store: LocalAccountStore, n: number): Promise<number[]> => {
    const times: number[] = [];
    for (let i = 0; i < n; i++) {
      const id = `${store.holder}-${count}-${i}`;
      store.join({ id, tokens: 100, order: Date.now() });
      const start = performance.now();
      let admission = store.tryAdmit(id, 100, `${id}#1`);
      while (!admission) {
        await new Promise<void>((resolve) => {
          const sub = store.onDidChange(() => (sub.dispose(), resolve()));
        });
        admission = store.tryAdmit(id, 100, `${id}#1`);
      }
      times.push((performance.now() - start) * 1000);
      store.release(admission);
      await new Promise((resolve) => setImmediate(resolve));
    }
    return times;
  };
  const coordinatorTimes = await timed(coordinator, 300);
  const followerTimes = await timed(follower, 300);
  follower.dispose();
  coordinator.dispose();
  fs.rmSync(folder, { recursive: true, force: true });
  return { local: medianOf(local), coordinator: medianOf(coordinatorTimes), follower: medianOf(followerTimes) };
}

async function admissionTable(log: (line: string) => void): Promise<{ table: Table; goal: Goal }> {
  const rows: string[][] = [];
  const results: { count: number; local: number; coordinator: number; follower: number }[] = [];
  for (const count of [1_000, 100_000, 1_000_000]) {
    const cost = await admissionCost(count);
    results.push({ count, ...cost });
    log(
      `  ${count.toLocaleString('en-US')} spends: ${cost.local.toFixed(1)} µs in process, ${cost.coordinator.toFixed(1)} µs coordinator, ${cost.follower.toFixed(1)} µs follower`,
    );
  }
  const base = results[0];
  for (const r of results)
    rows.push([
      r.count.toLocaleString('en-US'),
      `${r.local.toFixed(1)} µs`,
      `${(r.local / base.local).toFixed(2)}×`,
      `${r.coordinator.toFixed(1)} µs`,
      `${r.follower.toFixed(1)} µs`,
      `${(r.follower / base.follower).toFixed(2)}×`,
    ]);
  const million = results[results.length - 1];
  return {
    table: {
      title: 'One admission against the spends the account holds in its per-day window (median)',
      columns: ['spends held', 'decision (in process)', '× 1,000', "coordinator's own send", 'follower (socket round trip)', '× 1,000'],
      rows,
      note: 'Decision: MemoryAccountStore.tryAdmit alone (2,000 admissions). Coordinator and follower: LocalAccountStore over a Unix socket, from asking to holding the admission (300 each).',
    },
    goal: {
      goal: 'With a million spends in the day, one admission decision under 1 ms',
      met: million.local < 1_000 && million.coordinator < 1_000,
      measured: `${million.local.toFixed(1)} µs in process, ${million.coordinator.toFixed(1)} µs by the coordinator, ${million.follower.toFixed(1)} µs for a follower's round trip`,
    },
  };
}

/**
 * What the record of the account's spends costs a send: the steps a send takes in the store that
 * keeps the account (join, admit, confirm, settle, release), with the record and without it, in
 * alternating rounds of one run; and a follower's admission, which waits for the coordinator's write.
 */
export async function journalCost(log: (line: string) => void): Promise<{ table: Table; goal: Goal }> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'kb-bench-journal-'));
  const open = (identity: string, holder: string, journal: boolean) =>
    new LocalAccountStore({ identity, holder, limits: ROOMY, clock: systemClock, folder, journal });
  const pairs = await Promise.all(
    [true, false].map(async (journal) => {
      const coordinator = open(`j${journal}`, 'a', journal);
      await coordinator.ready();
      const follower = open(`j${journal}`, 'b', journal);
      await follower.ready();
      return { journal, coordinator, follower };
    }),
  );
  const times = new Map<string, number[]>();
  const add = (key: string, us: number) => (times.get(key) ?? times.set(key, []).get(key)!).push(us);
  let n = 0;
  for (let round = 0; round < 10; round++)
    for (const { journal, coordinator, follower } of round % 2 ? [...pairs].reverse() : pairs) {
      for (let i = 0; i < 200; i++) {
        const id = `c${n++}`;
        const start = performance.now();
        coordinator.join({ id, tokens: 100, order: Date.now() });
        const admission = coordinator.tryAdmit(id, 100, `${id}#1`)!;
        coordinator.confirm(admission);
        coordinator.settle(admission, 90);
        coordinator.release(admission);
        add(`send ${journal}`, (performance.now() - start) * 1000);
      }
      for (let i = 0; i < 20; i++) {
        const id = `f${n++}`;
        follower.join({ id, tokens: 100, order: Date.now() });
        const start = performance.now();
        let admission = follower.tryAdmit(id, 100, `${id}#1`);
        while (!admission) {
          await new Promise<void>((resolve) => {
            const sub = follower.onDidChange(() => (sub.dispose(), resolve()));
          });
          admission = follower.tryAdmit(id, 100, `${id}#1`);
        }
        add(`follower ${journal}`, (performance.now() - start) * 1000);
        follower.release(admission);
        await new Promise((resolve) => setImmediate(resolve));
      }
    }
  for (const { coordinator, follower } of pairs) {
    follower.dispose();
    coordinator.dispose();
  }
  const size = fs.statSync(path.join(folder, 'jtrue.journal')).size;
  fs.rmSync(folder, { recursive: true, force: true });
  const median = (key: string) => medianOf(times.get(key) ?? []);
  const send = { with: median('send true'), without: median('send false') };
  const follower = { with: median('follower true'), without: median('follower false') };
  log(
    `  a send's steps: ${send.with.toFixed(1)} µs with the record, ${send.without.toFixed(1)} µs without; a follower's admission ${follower.with.toFixed(1)} / ${follower.without.toFixed(1)} µs`,
  );
  const row = (what: string, m: { with: number; without: number }) => [
    what,
    `${m.with.toFixed(1)} µs`,
    `${m.without.toFixed(1)} µs`,
    `${(m.with - m.without).toFixed(1)} µs`,
    `${(m.with / m.without).toFixed(2)}×`,
  ];
  return {
    table: {
      title: "The record of the account's spends: its cost per send (median)",
      columns: ['', 'with the record', 'without', 'added', 'ratio'],
      rows: [
        row("a send's five steps in the window that keeps the account", send),
        row("a follower's admission (socket round trip)", follower),
      ],
      note: `The coordinator appends each change to a spend (admit, confirm, settle, release: four lines of about 40 bytes) to the record before it takes effect; the record is rewritten from the state when it doubles. 2,000 sends and 200 follower admissions each way, in alternating rounds; the record ended at ${(size / 1024).toFixed(0)} KiB.`,
    },
    goal: {
      goal: 'The record of every spend adds under 100 µs to a send',
      met: send.with - send.without < 100,
      measured: `${(send.with - send.without).toFixed(1)} µs added to a send's steps (${send.with.toFixed(1)} against ${send.without.toFixed(1)} µs); ${(follower.with - follower.without).toFixed(1)} µs to a follower's admission`,
    },
  };
}

export async function runSharedBudget(log: (line: string) => void): Promise<SharedBudgetResult> {
  const teammate = await teammateRuns(log);
  const admission = await admissionTable(log);
  const journal = await journalCost(log);
  const team = await teamThroughput(log);
  return {
    tables: [teammate.table, admission.table, journal.table, team.table],
    goals: [teammate.goal, admission.goal, journal.goal, team.goal],
  };
}
