/**
 * One "window" as its own process, for the multi-process tests: the real shared account store,
 * queue and client against a Moonshot-like server. Configured by the JSON in KIMI_WINDOW; writes
 * one JSON line per event to stdout; reads commands from stdin ("snapshot", "exit").
 */
import * as readline from 'node:readline';
import { accountIdentity, LocalAccountStore } from '../../src/account/localAccount';
import { TeamAccountStore } from '../../src/account/teamAccount';
import { RedisTeamConnection } from '../../src/account/teamConnection';
import { Clock, systemClock } from '../../src/core/clock';
import { Limits } from '../../src/core/limits';
import { DEFAULT_QUEUE_OPTIONS, SendQueue } from '../../src/core/sendQueue';
import { ChatResult, KimiClient } from '../../src/kimi';
import { verdictFor } from '../../src/kimi/verdict';

export interface WindowConfig {
  readonly name: string;
  readonly folder: string;
  readonly baseUrl: string;
  readonly apiKey: string;
  readonly limits: Limits;
  readonly windowMs: number;
  readonly marginMs: number;
  readonly heartbeatMs: number;
  readonly staleMs: number;
  /** Epoch ms the schedule counts from. */
  readonly startAt: number;
  readonly sends: readonly { readonly after: number; readonly text: string; readonly promptTokens: number; readonly maxTokens: number }[];
  readonly model: string;
  /** Share through Redis instead of this machine's socket. */
  readonly team?: { readonly url: string; readonly budget: string; readonly leaseMs?: number; readonly commandTimeoutMs?: number };
  /** How far this window's clock is off (a member on a machine with a wrong clock). */
  readonly skewMs?: number;
  /** The schedule starts when "go" is read on stdin (`startAt` then counts from that moment). */
  readonly waitForGo?: boolean;
  /** One request at a time until the server answers it, while concurrency is not known (as the extension runs). */
  readonly probeConcurrency?: boolean;
  /** Kills itself (SIGKILL) at a random moment at most this long after the first admission it sees, its own or another window's. */
  readonly dieWithinMsOfAdmission?: number;
}

export type WindowEvent =
  | { t: 'role'; role: string; at: number }
  | { t: 'enqueued'; send: number; at: number }
  | { t: 'admitted'; send: number; at: number }
  | { t: 'answered'; send: number; at: number; content: string }
  | { t: 'failed'; send: number; at: number; error: string }
  | {
      t: 'snapshot';
      requestsUsed: number;
      tokensUsed: number;
      inFlight: number;
      windows: number;
      queued: number;
      ahead: number[];
      /** The account's requests per minute now, and the limits learned from refusals. */
      requestsPerMinute: number;
      learned: [string, number][];
    }
  | { t: 'dying'; at: number; inMs: number }
  | { t: 'done'; at: number };

function emit(event: WindowEvent): void {
  process.stdout.write(JSON.stringify(event) + '\n');
}

async function main(): Promise<void> {
  const config = JSON.parse(process.env.KIMI_WINDOW ?? '{}') as WindowConfig;
  const skew = config.skewMs ?? 0;
  const clock: Clock = skew ? { now: () => Date.now() + skew, setTimer: systemClock.setTimer } : systemClock;
  const common = {
    holder: config.name,
    limits: config.limits,
    clock,
    budgetOptions: { windowMs: config.windowMs, dayMs: 86_400_000, marginMs: config.marginMs, probeConcurrency: config.probeConcurrency },
    heartbeatMs: config.heartbeatMs,
    staleMs: config.staleMs,
    log: (message: string) => process.stderr.write(`${config.name}: ${message}\n`),
  };
  const store = config.team
    ? new TeamAccountStore({
        ...common,
        machine: config.name,
        leaseMs: config.team.leaseMs,
        connection: new RedisTeamConnection({
          url: config.team.url,
          budget: config.team.budget,
          commandTimeoutMs: config.team.commandTimeoutMs,
        }),
      })
    : new LocalAccountStore({ ...common, identity: accountIdentity(config.baseUrl, config.apiKey), folder: config.folder });
  const roleOf = () => (store instanceof TeamAccountStore ? store.currentMode : store.currentRole);
  let role = '';
  store.onDidChange(() => {
    if (roleOf() !== role) emit({ t: 'role', role: (role = roleOf()), at: Date.now() });
  });
  const dieWithin = config.dieWithinMsOfAdmission;
  if (dieWithin !== undefined) {
    let used = store.snapshot().requestsUsed;
    let dying = false;
    store.onDidChange(() => {
      const now = store.snapshot().requestsUsed;
      if (now > used && !dying) {
        dying = true;
        const inMs = Math.floor(Math.random() * dieWithin);
        emit({ t: 'dying', at: Date.now(), inMs });
        setTimeout(() => process.kill(process.pid, 'SIGKILL'), inMs);
      }
      used = now;
    });
  }
  const queue = new SendQueue<ChatResult>(store, clock, verdictFor, { ...DEFAULT_QUEUE_OPTIONS, maxLength: 100, maxWaitMs: 120_000 });
  const client = new KimiClient({ baseUrl: config.baseUrl, apiKey: async () => config.apiKey });

  let go: () => void = () => undefined;
  const started = config.waitForGo ? new Promise<void>((resolve) => (go = resolve)) : Promise.resolve();
  readline.createInterface({ input: process.stdin }).on('line', (line) => {
    if (line === 'go') go();
    if (line === 'snapshot') {
      const s = store.snapshot();
      const mine = queue.entries().filter((e) => e.state === 'waiting');
      emit({
        t: 'snapshot',
        requestsUsed: s.requestsUsed,
        tokensUsed: s.tokensUsed,
        inFlight: s.inFlight,
        windows: s.windows,
        queued: mine.length,
        ahead: mine.map((e) => e.ahead),
        requestsPerMinute: s.limits.requestsPerMinute,
        learned: (s.learned ?? []).map((l) => [l.limit, l.value]),
      });
    }
    if (line === 'exit') process.exit(0);
  });

  if (process.env.KIMI_WINDOW_DEBUG)
    setInterval(
      () => process.stderr.write(`${config.name}: ${JSON.stringify({ ...store.describe(), queue: queue.entries() })}\n`),
      5_000,
    ).unref();
  await store.ready();
  await started;
  const startAt = config.waitForGo ? Date.now() : config.startAt;
  const results = config.sends.map(
    (send, i) =>
      new Promise<void>((resolve) => {
        setTimeout(
          () => {
            emit({ t: 'enqueued', send: i, at: Date.now() });
            const ticket = queue.enqueue({
              label: `${config.name}-${i}`,
              promptTokens: send.promptTokens,
              maxTokens: send.maxTokens,
              run: async ({ signal, sending, serverAnswered }) => {
                emit({ t: 'admitted', send: i, at: Date.now() });
                const result = await client.streamChat(
                  { model: config.model, messages: [{ role: 'user', content: send.text }], maxTokens: send.maxTokens },
                  { onRequest: sending, onResponse: (status: number) => serverAnswered(status >= 200 && status < 300) },
                  signal,
                );
                return { value: result, promptTokens: result.usage?.promptTokens };
              },
            });
            ticket.result.then(
              (answer) => emit({ t: 'answered', send: i, at: Date.now(), content: answer.content }),
              (error: unknown) => emit({ t: 'failed', send: i, at: Date.now(), error: String(error) }),
            );
            void ticket.result.finally(resolve).catch(() => undefined);
          },
          Math.max(0, startAt + send.after - Date.now()),
        );
      }),
  );
  await Promise.all(results);
  emit({ t: 'done', at: Date.now() });
}

void main();
