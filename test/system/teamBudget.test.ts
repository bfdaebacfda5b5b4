// A team's budget in a real Redis (Debian's redis-server, started here on a free loopback port):
// the script's promises one by one, then many member processes, each running the real store, queue
// and client against the Moonshot-like server, with Redis killed, restarted empty and stopped.
import * as assert from 'node:assert/strict';
import { createClient } from '@redis/client';
import { TeamAccountStore } from '../../src/account/teamAccount';
import { RedisTeamConnection } from '../../src/account/teamConnection';
import { teamKeys } from '../../src/account/teamScript';
import { Clock, systemClock } from '../../src/core/clock';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, SendQueue } from '../../src/core/sendQueue';
import { verdictFor } from '../../src/kimi/verdict';
import { FakeMoonshot } from '../support/fakeMoonshot';
import { RedisServer } from '../support/redisServer';
import { sleep, until } from '../support/wait';
import { busiestSpan, busiestTokens, done, launch, of, progress, Window } from '../support/windowProcesses';

const MODEL = 'kimi-k2.6';
const WINDOW_MS = 6_000;
const MARGIN_MS = 50;

const limits = (l: Partial<Limits> = {}): Limits => ({
  requestsPerMinute: 2,
  tokensPerMinute: 10_000,
  concurrency: 0,
  tokensPerDay: 0,
  ...l,
});
const arg = (l: Limits) => [l.requestsPerMinute, l.tokensPerMinute, l.concurrency, l.tokensPerDay].join(',');

describe('a team budget in Redis (real redis-server)', function () {
  this.timeout(90_000);
  let redis: RedisServer;
  let budgetNo = 0;
  const connections: RedisTeamConnection[] = [];
  const stores: TeamAccountStore[] = [];

  before(async () => (redis = await RedisServer.start()));
  after(async () => redis?.stop());
  afterEach(async () => {
    for (const store of stores.splice(0)) store.dispose();
    await Promise.all(connections.splice(0).map((c) => c.close()));
  });

  /** The script through a fresh connection, for one new budget; spans: window 400 ms, lease 500 ms. */
  async function script(spans = { windowMs: 400, dayMs: 86_400_000, staleMs: 3_000, leaseMs: 500 }) {
    const budget = `script-${++budgetNo}`;
    const connection = new RedisTeamConnection({ url: redis.url, budget });
    connections.push(connection);
    await connection.connected;
    const call = async (op: string, ...params: string[]) =>
      JSON.parse(
        await connection.run([op, ...[spans.windowMs, spans.dayMs, spans.staleMs, spans.leaseMs].map(String), ...params]),
      ) as Record<string, unknown>;
    return { budget, call };
  }

  /** Every key of a budget, read back as plain values. */
  async function contents(budget: string): Promise<Record<string, unknown>> {
    const client = createClient({ url: redis.url });
    await client.connect();
    try {
      const out: Record<string, unknown> = {};
      for (const key of teamKeys(budget)) {
        const type = await client.type(key);
        if (type === 'zset') out[key] = await client.zRangeWithScores(key, 0, -1);
        else if (type === 'hash') out[key] = await client.hGetAll(key);
        else if (type === 'string') out[key] = await client.get(key);
      }
      return out;
    } finally {
      await client.close();
    }
  }

  it('a denial writes nothing: the keys are the same after a refused admission', async () => {
    // Spans far longer than the test, however loaded the machine: nothing may expire between the reads.
    const { budget, call } = await script({ windowMs: 60_000, dayMs: 86_400_000, staleMs: 60_000, leaseMs: 60_000 });
    await call('join', 't1', 'a', '100', arg(limits({ requestsPerMinute: 1 })));
    assert.equal((await call('admit', 't1', 'a', 's1', '100', arg(limits({ requestsPerMinute: 1 })))).ok, true);
    await call('join', 't2', 'b', '100', arg(limits({ requestsPerMinute: 1 })));
    const before = await contents(budget);
    const refused = await call('admit', 't2', 'b', 's2', '100', arg(limits({ requestsPerMinute: 1 })));
    assert.equal(refused.ok, false);
    assert.equal(refused.limit, 'requestsPerMinute');
    assert.ok(
      (refused.waitMs as number) > 0 && (refused.waitMs as number) <= 60_000,
      `waits ${String(refused.waitMs)} ms, within the window`,
    );
    assert.deepEqual(await contents(budget), before);
    // Not at the head of the line: refused for the line, and nothing written either.
    await call('join', 't3', 'b', '1', arg(limits()));
    const withT3 = await contents(budget);
    assert.deepEqual(await call('admit', 't3', 'b', 's3', '1', arg(limits())).then((r) => [r.ok, r.limit]), [false, 'line']);
    assert.deepEqual(await contents(budget), withT3);
  });

  it('the same admission sent twice admits once (a retried call after a dropped connection is harmless)', async () => {
    const { budget, call } = await script();
    await call('join', 't1', 'a', '100', arg(limits()));
    const first = await call('admit', 't1', 'a', 's1', '100', arg(limits()));
    const again = await call('admit', 't1', 'a', 's1', '100', arg(limits()));
    assert.equal(first.ok, true);
    assert.deepEqual(again, first, 'the stored result, not a second admission');
    const keys = await contents(budget);
    const [, , , , sum] = teamKeys(budget);
    assert.deepEqual(keys[sum], { mreq: '1', mtok: '100', dreq: '1', dtok: '100' });
  });

  it('settle sets the charge (twice is once); after the window it corrects only the day', async () => {
    // A window long enough that the first settles land inside it on a loaded machine; then it passes.
    const { budget, call } = await script({ windowMs: 3_000, dayMs: 86_400_000, staleMs: 60_000, leaseMs: 60_000 });
    const sum = teamKeys(budget)[4];
    await call('join', 't1', 'a', '100', arg(limits()));
    await call('admit', 't1', 'a', 's1', '100', arg(limits()));
    await call('settle', 's1', '150');
    await call('settle', 's1', '150');
    assert.deepEqual((await contents(budget))[sum], { mreq: '1', mtok: '150', dreq: '1', dtok: '150' });
    await sleep(3_100); // the window passes, in Redis's time
    await call('state');
    await call('settle', 's1', '80');
    assert.deepEqual((await contents(budget))[sum], { mreq: '0', mtok: '0', dreq: '1', dtok: '80' });
    assert.deepEqual(await call('settle', 'unknown', '5').then((r) => r.known), false);
  });

  it("every limit at once: tokens, concurrency (a lease that frees a dead member's slot), the day", async () => {
    const { call } = await script({ windowMs: 60_000, dayMs: 86_400_000, staleMs: 3_000, leaseMs: 400 });
    const l = arg(limits({ requestsPerMinute: 100, tokensPerMinute: 1_000, concurrency: 1, tokensPerDay: 1_500 }));
    await call('join', 't1', 'a', '600', l);
    assert.equal((await call('admit', 't1', 'a', 's1', '600', l)).ok, true);
    await call('join', 't2', 'b', '300', l);
    const slot = await call('admit', 't2', 'b', 's2', '300', l);
    assert.equal(slot.limit, 'concurrency', 'a holds the only slot');
    assert.ok((slot.waitMs as number) <= 400, 'until its lease ends at the latest');
    // a never renews its lease (it died): the slot is free once the lease ends.
    await sleep(450);
    assert.equal((await call('admit', 't2', 'b', 's2', '300', l)).ok, true);
    await call('release', 's2');
    await call('join', 't3', 'b', '300', l);
    const tokens = await call('admit', 't3', 'b', 's3', '300', l);
    assert.deepEqual([tokens.ok, tokens.limit], [false, 'tokensPerMinute'], '600 + 300 + 300 > 1,000');
    await call('leave', 't3');
    await call('join', 't4', 'b', '100', l);
    assert.equal((await call('admit', 't4', 'b', 's4', '100', l)).ok, true);
    await call('release', 's4');
    await call('join', 't5', 'b', '600', arg(limits({ requestsPerMinute: 100, tokensPerMinute: 100_000, tokensPerDay: 1_500 })));
    const day = await call(
      'admit',
      't5',
      'b',
      's5',
      '600',
      arg(limits({ requestsPerMinute: 100, tokensPerMinute: 100_000, tokensPerDay: 1_500 })),
    );
    assert.equal(day.limit, 'tokensPerDay', '1,000 spent today + 600 > 1,500 (b now declares a larger minute; the smallest applies)');
  });

  it('members whose clocks are 30 s fast or slow decide exactly as one whose clock is right', async () => {
    const decisions: string[][] = [];
    for (const skew of [0, 30_000, -30_000]) {
      const clock: Clock = { now: () => Date.now() + skew, setTimer: systemClock.setTimer };
      const connection = new RedisTeamConnection({ url: redis.url, budget: `skew-${++budgetNo}` });
      const store = new TeamAccountStore({
        connection,
        holder: 'm.a',
        machine: 'm',
        limits: limits({ requestsPerMinute: 2 }),
        clock,
        budgetOptions: { windowMs: 1_000, dayMs: 86_400_000, marginMs: 0 },
      });
      stores.push(store);
      await store.ready();
      const queue = new SendQueue<string>(store, clock, verdictFor, { ...DEFAULT_QUEUE_OPTIONS, maxWaitMs: 10_000 });
      const start = Date.now();
      const admitted: string[] = [];
      const sends = ['a', 'b', 'c'].map(
        (label) =>
          queue.enqueue({
            label,
            promptTokens: 5,
            maxTokens: 5,
            run: async () => {
              const ms = Date.now() - start;
              admitted.push(`${label}: ${ms < 500 ? 'at once' : ms >= 900 && ms < 1_500 ? 'after the window' : `after ${ms} ms`}`);
              return { value: label, promptTokens: 5 };
            },
          }).result,
      );
      await Promise.all(sends);
      queue.dispose();
      decisions.push(admitted);
    }
    assert.deepEqual(decisions[0], ['a: at once', 'b: at once', 'c: after the window']);
    assert.deepEqual(decisions[1], decisions[0], '30 s fast');
    assert.deepEqual(decisions[2], decisions[0], '30 s slow');
  });

  it('a wrong password is named, and the window goes on with its own budget', async () => {
    const locked = await RedisServer.start(['--requirepass', 'right-one']);
    try {
      const connection = new RedisTeamConnection({ url: locked.url, budget: 'locked', password: 'wrong-one' });
      const store = new TeamAccountStore({ connection, holder: 'm.a', machine: 'm', limits: limits(), clock: systemClock });
      stores.push(store);
      await store.ready();
      const s = store.snapshot();
      assert.equal(s.team?.connected, false);
      assert.match(s.team?.problem ?? '', /refused the password.*Set Team Redis Password/);
      assert.ok(!JSON.stringify(s).includes('wrong-one'), 'the password is in no message');
      store.join({ id: 't1', tokens: 10, order: 1 });
      assert.ok(store.tryAdmit('t1', 10, 's1'), 'offline, the window still sends (at its share)');
    } finally {
      await locked.stop();
    }
  });
});

describe('a team of member processes sharing one Redis budget (6 s windows)', function () {
  this.timeout(120_000);
  let redis: RedisServer;
  let server: FakeMoonshot | undefined;
  let windows: Window[] = [];

  beforeEach(async () => (redis = await RedisServer.start()));
  afterEach(async () => {
    for (const w of windows) w.child.kill('SIGKILL');
    await Promise.all(windows.map((w) => w.exited));
    windows = [];
    await server?.stop();
    server = undefined;
    await redis.stop();
  });

  async function team(options: {
    members: number;
    sendsEach: number;
    limits: Limits;
    spacingMs: number;
    skews?: number[];
    leaseMs?: number;
  }) {
    server = new FakeMoonshot({
      rpm: options.limits.requestsPerMinute,
      tpm: options.limits.tokensPerMinute,
      concurrency: options.limits.concurrency,
      windowMs: WINDOW_MS,
      chunkDelayMs: 20,
    });
    const baseUrl = await server.start();
    const startAt = Date.now() + 2_500;
    let seed = 7;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    windows = Array.from({ length: options.members }, (_, m) => {
      const name = `member${m}`;
      const sends = Array.from({ length: options.sendsEach }, (_, i) => {
        const text = `Member ${name}, send ${i}: say something short.`;
        return {
          after: (i * options.members + m) * options.spacingMs,
          text,
          promptTokens: server!.countPromptTokens([{ role: 'user', content: text }]),
          maxTokens: 50 + Math.floor(random() * 400),
        };
      });
      return launch({
        name,
        folder: '',
        baseUrl,
        apiKey: server!.apiKey,
        limits: options.limits,
        windowMs: WINDOW_MS,
        marginMs: MARGIN_MS,
        heartbeatMs: 500,
        staleMs: 3_000,
        startAt,
        sends,
        model: MODEL,
        team: { url: redis.url, budget: 'team', leaseMs: options.leaseMs ?? 15_000, commandTimeoutMs: 1_000 },
        skewMs: options.skews?.[m % options.skews.length],
      });
    });
    // Faults are made once every member has reached Redis (on a loaded machine, processes start slowly).
    await until('every member online', () => windows.every((w) => w.role() === 'online'), {
      timeoutMs: 30_000,
      describeState: progress(windows),
    });
    return { server: server!, windows };
  }

  function checkServer(limits: Limits, total: number): void {
    const failed = windows.flatMap((w) => of(w, 'failed').map((f) => `${w.name}#${f.send}: ${f.error}`));
    assert.deepEqual(failed, [], 'no send failed');
    assert.equal(windows.flatMap((w) => of(w, 'answered')).length, total, 'every send answered');
    assert.deepEqual(server!.stats.rejected, {}, 'the server refused nothing (no 429)');
    assert.equal(server!.stats.requests, total, 'each send reached the server once');
    const requests = busiestSpan(server!, WINDOW_MS);
    const tokens = busiestTokens(server!, WINDOW_MS);
    console.log(
      `      busiest ${WINDOW_MS} ms at the server: ${requests}/${limits.requestsPerMinute} requests, ${tokens}/${limits.tokensPerMinute} tokens; most at once ${server!.stats.maxConcurrent}`,
    );
    assert.ok(requests <= limits.requestsPerMinute, `${requests} requests in one window`);
    assert.ok(tokens <= limits.tokensPerMinute, `${tokens} tokens in one window`);
    if (limits.concurrency) assert.ok(server!.stats.maxConcurrent <= limits.concurrency);
  }

  it('20 members (clocks 30 s fast, right and slow), random sizes: no 429, no window over a limit, all answered', async () => {
    const l = { requestsPerMinute: 12, tokensPerMinute: 4_000, concurrency: 4, tokensPerDay: 0 };
    await team({ members: 20, sendsEach: 2, limits: l, spacingMs: 20, skews: [30_000, 0, -30_000] });
    await until('every member finished', () => windows.every(done), { timeoutMs: 90_000, describeState: progress(windows) });
    checkServer(l, 40);
  });

  /** Four members, five sends each, 8 a window; Redis cut (`cut`) once three went, brought back by `restore`. */
  async function throughAnOutage(cut: () => Promise<void> | void, restore: () => Promise<void> | void): Promise<void> {
    const l = { requestsPerMinute: 8, tokensPerMinute: 100_000, concurrency: 0, tokensPerDay: 0 };
    await team({ members: 4, sendsEach: 5, limits: l, spacingMs: 150 });
    await until('sending', () => windows.flatMap((w) => of(w, 'admitted')).length >= 3, { timeoutMs: 20_000 });
    await cut();
    await until('every member offline', () => windows.every((w) => w.role() === 'offline'), {
      timeoutMs: 10_000,
      describeState: progress(windows),
    });
    await restore();
    await until('every member back', () => windows.every((w) => w.role() === 'online'), {
      timeoutMs: 15_000,
      describeState: progress(windows),
    });
    await until('every member finished', () => windows.every(done), { timeoutMs: 90_000, describeState: progress(windows) });
    checkServer(l, 20);
  }

  it('Redis killed mid-run and restarted with no data: members fall back to their share, then declare what they hold; all answered', () =>
    throughAnOutage(
      () => redis.kill(),
      async () => {
        await sleep(1_500);
        await redis.restart();
      },
    ));

  it('Redis stopped (SIGSTOP) for ten seconds: members fall back, come back when it continues; all answered, no 429', () =>
    throughAnOutage(
      () => redis.pause(),
      async () => {
        await sleep(10_000);
        redis.resume();
      },
    ));

  it('a member killed (kill -9) while its send runs: its slot comes back when its lease ends; its units stay spent', async () => {
    const l = { requestsPerMinute: 20, tokensPerMinute: 100_000, concurrency: 1, tokensPerDay: 0 };
    await team({ members: 3, sendsEach: 2, limits: l, spacingMs: 20, leaseMs: 2_000 });
    const victim = await until('a member whose send runs', () => windows.find((w) => of(w, 'admitted').length > of(w, 'answered').length), {
      timeoutMs: 20_000,
      pollMs: 2,
    });
    const killedAt = Date.now();
    victim.child.kill('SIGKILL');
    const others = windows.filter((w) => w !== victim);
    const before = others.flatMap((w) => of(w, 'admitted')).length;
    await until('the next send going out', () => others.flatMap((w) => of(w, 'admitted')).length > before, { timeoutMs: 10_000 });
    const next = Math.min(
      ...others.flatMap((w) =>
        of(w, 'admitted')
          .filter((e) => e.at >= killedAt)
          .map((e) => e.at),
      ),
    );
    console.log(`      the next send went out ${next - killedAt} ms after the kill (lease 2,000 ms, concurrency 1)`);
    // The lease, then a heartbeat's read of the team's state (500 ms), with room for a loaded machine.
    assert.ok(next - killedAt <= 2_000 + 2_000, `the dead member's slot came back after ${next - killedAt} ms`);
    await until('the others finished', () => others.every(done), { timeoutMs: 40_000, describeState: progress(others) });
    assert.deepEqual(server!.stats.rejected, {}, 'no 429');
  });
});
