import * as assert from 'node:assert/strict';
import { BudgetSnapshot } from '../../src/core/budget';
import { QueueEntryView } from '../../src/core/sendQueue';
import { summarize, SummaryInput } from '../../src/ui/budgetSummary';
import { compact, duration } from '../../src/ui/words';

const NOW = 1_000_000;
const snapshot = (s: Partial<BudgetSnapshot> = {}): BudgetSnapshot => ({
  limits: { requestsPerMinute: 120, tokensPerMinute: 150_000, concurrency: 0, tokensPerDay: 0 },
  requestsUsed: 0,
  tokensUsed: 0,
  tokensUsedToday: 0,
  inFlight: 0,
  nextReturnAt: undefined,
  shares: { requestsPerMinute: 1, tokensPerMinute: 1, concurrency: 1 },
  ...s,
});
const waiting = (id: number, eta: number | undefined): QueueEntryView => ({
  id,
  ahead: 0,
  label: `p${id}`,
  tokens: 9_000,
  enqueuedAt: NOW,
  state: 'waiting',
  eta,
  attempt: 0,
});
const input = (i: Partial<SummaryInput> = {}): SummaryInput => ({
  snapshot: snapshot(),
  entries: [],
  heldBy: undefined,
  refusal: undefined,
  now: NOW,
  model: 'kimi-k2.6',
  calibration: { ratio: 1, samples: 0 },
  sessionCostUsd: 0,
  sessionCostKnown: true,
  ...i,
});

describe('budget summary (status bar item)', () => {
  it('labels a fresh budget exactly as the public contract says', () => {
    const s = summarize(input());
    assert.equal(s.label, 'Kimi budget: 120 of 120 requests, 150000 of 150000 tokens left; 0 queued');
    assert.equal(s.text, '$(pulse) 120/120 req · 150k/150k tok');
    assert.equal(s.pressure, 'normal');
    assert.equal(s.refreshInMs, undefined, 'nothing changes by itself when nothing is spent');
  });

  it('counts down what is spent, with the queue and the head ETA, in error colours while sends wait', () => {
    const s = summarize(
      input({
        snapshot: snapshot({ requestsUsed: 118, tokensUsed: 141_500, nextReturnAt: NOW + 30_000 }),
        entries: [waiting(1, NOW + 42_000), waiting(2, undefined)],
        heldBy: 'tokensPerMinute',
      }),
    );
    assert.equal(s.label, 'Kimi budget: 2 of 120 requests, 8500 of 150000 tokens left; 2 queued');
    assert.equal(s.text, '$(pulse) 2/120 req · 8.5k/150k tok · $(clock) 2 queued, next 0:42');
    assert.equal(s.pressure, 'error');
    assert.equal(s.refreshInMs, 1000, 'the ETA counts down every second');
    assert.match(s.tooltip, /held by tokens per minute/);
    assert.match(s.tooltip, /\| tokens \/ min \| 150,000 \| 141,500 \| 8,500 \|/);
  });

  it('warns below a fifth of either budget and refreshes when the next unit comes back', () => {
    const s = summarize(input({ snapshot: snapshot({ requestsUsed: 100, tokensUsed: 10, nextReturnAt: NOW + 5_000 }) }));
    assert.equal(s.pressure, 'warning');
    assert.equal(s.refreshInMs, 5_000);
  });

  it('never shows a negative remainder when a settle pushed usage above the limit', () => {
    const s = summarize(input({ snapshot: snapshot({ tokensUsed: 151_000 }) }));
    assert.match(s.label, /, 0 of 150000 tokens left;/);
    assert.equal(s.pressure, 'error');
  });

  it('shows the server refusal, the day budget, calibration and session cost in the tooltip', () => {
    const s = summarize(
      input({
        snapshot: snapshot({
          limits: { requestsPerMinute: 3, tokensPerMinute: 500_000, concurrency: 1, tokensPerDay: 1_500_000 },
          tokensUsedToday: 20_000,
          inFlight: 1,
        }),
        refusal: { at: NOW - 2_000, evidence: 'max RPM: 3, please try again after 5 seconds', until: NOW + 3_000 },
        calibration: { ratio: 1.0734, samples: 3 },
        sessionCostUsd: 0.0123,
      }),
    );
    assert.match(s.tooltip, /tokens \/ day \| 1,500,000 \| 20,000 \| 1,480,000/);
    assert.match(s.tooltip, /in flight \| 1 \| 1 \| 0/);
    assert.match(s.tooltip, /Last server refusal 0:02 ago: max RPM: 3, please try again after 5 seconds — paused for 0:03/);
    assert.match(s.tooltip, /× 1\.073, calibrated on 3 answers/);
    assert.match(s.tooltip, /Session cost: \$0\.01/);
  });

  it("says who shares the account's budget and who used the minute, whose limits apply, and what others queue", () => {
    const own = { requestsPerMinute: 200, tokensPerMinute: 150_000, concurrency: 0, tokensPerDay: 0 };
    const shared = summarize(
      input({
        snapshot: {
          ...snapshot({ requestsUsed: 5, tokensUsed: 7_000 }),
          windows: 3,
          sharing: 'shared',
          spentBy: { here: { requests: 2, tokens: 3_000 }, others: { requests: 3, tokens: 4_000 } },
          limitsDiffer: true,
          ownLimits: own,
        },
        othersWaiting: 4,
        entries: [waiting(1, NOW + 5_000)],
      }),
    );
    assert.equal(
      shared.label,
      'Kimi budget: 115 of 120 requests, 143000 of 150000 tokens left; 1 queued',
      'the label counts the account, queues this window',
    );
    assert.match(
      shared.tooltip,
      /shared by 3 windows on this machine\. This minute: this window 2 requests, 3,000 tokens; other windows here 3 requests, 4,000 tokens\./,
    );
    assert.match(shared.tooltip, /limit settings differ: the smallest of each applies\. This window's: 200 requests\/min/);
    assert.match(shared.tooltip, /Queued: 1 \(and 4 of other windows\)/);

    const alone = summarize(input({ snapshot: { ...snapshot(), windows: 1, sharing: 'alone', limitsDiffer: false, ownLimits: own } }));
    assert.doesNotMatch(alone.tooltip, /windows/);
    const degraded = summarize(
      input({ snapshot: { ...snapshot(), windows: 1, sharing: 'degraded', sharingProblem: 'the folder is not ours' } }),
    );
    assert.match(degraded.tooltip, /Not shared with your other windows: the folder is not ours\. This window keeps its own budget\./);
  });

  it("says whether the team budget is connected, the teammates' part of the minute, and 'team budget offline' in the bar", () => {
    const team = (connected: boolean) =>
      summarize(
        input({
          snapshot: {
            ...snapshot(),
            sharing: 'team',
            team: {
              connected,
              members: 3,
              teammates: { requests: 4, tokens: 12_000 },
              problem: connected ? undefined : 'Redis did not answer in time',
            },
          },
        }),
      );
    const online = team(true);
    assert.doesNotMatch(online.text, /offline/);
    assert.match(online.tooltip, /Team budget connected \(Redis\).*3 windows.*teammates \(other machines\) used 4 requests, 12,000 tokens/);
    const offline = team(false);
    assert.match(offline.text, /team budget offline$/);
    assert.equal(offline.pressure, 'warning');
    assert.match(offline.tooltip, /Team budget offline: Redis did not answer in time\. This window uses its share/);
    assert.equal(offline.label, online.label, "the contract's label is the same");
  });

  it("links to the dashboard, the tooltip's one command link, whatever a prompt's label or the server's words hold", () => {
    const hostile = '[Run](command:workbench.action.terminal.sendSequence?%7B%7D)';
    const s = summarize(
      input({
        entries: [{ ...waiting(1, NOW + 5_000), label: hostile }],
        refusal: { at: NOW - 1_000, evidence: hostile, until: NOW },
      }),
    );
    const links = [...s.tooltip.matchAll(/(?<!\\)\[[^\]]*(?<!\\)\]\((command:[^)\s]+)\)/g)].map((m) => m[1]);
    assert.deepEqual(links, ['command:kimiBudget.showDashboard']);
  });

  it('formats compact numbers and durations', () => {
    assert.deepEqual([0, 999, 1_234, 150_000, 2_000_000, 149_999].map(compact), ['0', '999', '1.2k', '150k', '2M', '149k']);
    assert.deepEqual([0, 1, 42_000, 61_000, 3_600_000].map(duration), ['0:00', '0:01', '0:42', '1:01', '1:00:00']);
  });
});
