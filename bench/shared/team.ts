// Admissions through a team's Redis (a real redis-server on loopback) next to the local store, with
// 1, 8 and 32 windows asking at once: each window joins the line, waits for its admission, releases,
// and again, for a few seconds. Same loop, same AccountStore interface, for both stores.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { LocalAccountStore } from '../../src/account/localAccount';
import { TeamAccountStore } from '../../src/account/teamAccount';
import { RedisTeamConnection } from '../../src/account/teamConnection';
import { AccountStore } from '../../src/core/account';
import { systemClock } from '../../src/core/clock';
import { Limits } from '../../src/core/limits';
import { RedisServer, redisVersion } from '../../test/support/redisServer';
import { Goal } from '../report/goal';
import { Table } from '../report/table';

const ROOMY: Limits = { requestsPerMinute: 1e9, tokensPerMinute: 1e12, concurrency: 0, tokensPerDay: 0 };
const RUN_MS = 3_000;
/** A one-second window: what each window reads of the team on every change (the window's spends) stays near a real minute's size. */
const OPTIONS = { windowMs: 1_000, dayMs: 86_400_000, marginMs: 0 };

interface Throughput {
  readonly perSecond: number;
  readonly p50: number;
  readonly p99: number;
}

type Store = AccountStore & { ready(): Promise<void>; dispose(): void };

async function loop(stores: Store[]): Promise<Throughput> {
  await Promise.all(stores.map((s) => s.ready()));
  const latencies: number[] = [];
  const end = performance.now() + RUN_MS;
  await Promise.all(
    stores.map(async (store, w) => {
      for (let i = 0; performance.now() < end; i++) {
        const id = `w${w}-${i}`;
        const start = performance.now();
        store.join({ id, tokens: 100, order: Date.now() });
        let admission = store.tryAdmit(id, 100, `${id}#1`);
        while (!admission) {
          await new Promise<void>((resolve) => {
            const timer = setTimeout(done, 50); // a missed wake-up costs at most this
            const sub = store.onDidChange(done);
            function done() {
              clearTimeout(timer);
              sub.dispose();
              resolve();
            }
          });
          admission = store.tryAdmit(id, 100, `${id}#1`);
        }
        latencies.push(performance.now() - start);
        store.release(admission);
        // Every window gets its turn, and the sockets theirs: a window admitted at once does not loop alone.
        await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  const elapsed = RUN_MS + Math.max(0, performance.now() - end);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))];
  return { perSecond: (latencies.length / elapsed) * 1000, p50: at(0.5), p99: at(0.99) };
}

async function local(n: number): Promise<Throughput> {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), 'kb-bench-team-'));
  const stores = Array.from(
    { length: n },
    (_, w) =>
      new LocalAccountStore({ identity: `local${n}`, holder: `w${w}`, limits: ROOMY, clock: systemClock, folder, budgetOptions: OPTIONS }),
  );
  try {
    await stores[0].ready();
    return await loop(stores);
  } finally {
    for (const s of stores) s.dispose();
    fs.rmSync(folder, { recursive: true, force: true });
  }
}

async function team(redis: RedisServer, n: number): Promise<Throughput> {
  const stores = Array.from(
    { length: n },
    (_, w) =>
      new TeamAccountStore({
        connection: new RedisTeamConnection({ url: redis.url, budget: `bench-${n}` }),
        holder: `m.w${w}`,
        machine: 'm',
        limits: ROOMY,
        clock: systemClock,
        budgetOptions: OPTIONS,
      }),
  );
  try {
    const result = await loop(stores);
    const offline = stores.filter((s) => s.currentMode !== 'online');
    if (offline.length) throw new Error(`${offline.length} of ${n} windows went offline: ${offline[0].snapshot().team?.problem}`);
    return result;
  } finally {
    for (const s of stores) s.dispose();
  }
}

export async function teamThroughput(log: (line: string) => void): Promise<{ table: Table; goal: Goal }> {
  const redis = await RedisServer.start();
  const rows: string[][] = [];
  const results: { n: number; local: Throughput; team: Throughput }[] = [];
  try {
    for (const n of [1, 8, 32]) {
      const l = await local(n);
      const t = await team(redis, n);
      results.push({ n, local: l, team: t });
      log(
        `  ${n} windows: local ${l.perSecond.toFixed(0)}/s (p50 ${l.p50.toFixed(2)} ms, p99 ${l.p99.toFixed(2)} ms); Redis ${t.perSecond.toFixed(0)}/s (p50 ${t.p50.toFixed(2)} ms, p99 ${t.p99.toFixed(2)} ms)`,
      );
      rows.push([
        String(n),
        `${l.perSecond.toFixed(0)}/s`,
        `${l.p50.toFixed(2)} / ${l.p99.toFixed(2)} ms`,
        `${t.perSecond.toFixed(0)}/s`,
        `${t.p50.toFixed(2)} / ${t.p99.toFixed(2)} ms`,
        `${(t.perSecond / l.perSecond).toFixed(2)}×`,
      ]);
    }
  } finally {
    await redis.stop();
  }
  const worst = results[results.length - 1];
  return {
    table: {
      title: 'Admissions through the team budget (Redis) and the local store, windows asking at once',
      columns: ['windows', 'local store', 'local p50 / p99', 'Redis', 'Redis p50 / p99', 'Redis ÷ local'],
      rows,
      note: `Each window: join the line, wait for its admission, release, again, for ${RUN_MS / 1000} s, no limit binding (a 1 s rate window, so that the state each window reads on every change holds about a real minute's spends); latency from joining to holding the admission. One line for all: the windows take turns. Redis: ${redisVersion()}, on loopback, one connection per window (plus one for wake-ups). Local: one coordinator and followers over a Unix socket, all in this process.`,
    },
    goal: {
      goal: 'With 32 windows asking at once through Redis (all in this one process), over 100 admissions a second',
      met: worst.team.perSecond > 100,
      measured: `${worst.team.perSecond.toFixed(0)}/s, p99 ${worst.team.p99.toFixed(1)} ms (local store: ${worst.local.perSecond.toFixed(0)}/s, p99 ${worst.local.p99.toFixed(1)} ms)`,
    },
  };
}
