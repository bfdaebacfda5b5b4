import type { ActivationResult } from '../activation/measure';
import type { DashboardResult } from '../dashboard/section';
import type { ChatCountResult } from '../chat/measure';
import type { SendPathResult } from '../send/measure';
import type { SharedBudgetResult } from '../shared/section';
import { CLIENTS } from '../scheduling/clients/all';
import type { SchedulingResult } from '../scheduling/section';
import { ANSWER, NETWORK } from '../scheduling/simulate';
import type { TokenCountingResult } from '../tokens/report';
import { Goal, verdict } from './goal';
import type { Machine } from './machine';
import { toMarkdown } from './table';

export interface Report {
  readonly date: Date;
  readonly machine: Machine;
  readonly command: string;
  readonly revision: string;
  readonly totalSeconds: number;
  readonly scheduling: SchedulingResult;
  readonly tokens: TokenCountingResult;
  readonly activation: ActivationResult;
  readonly sendPath: SendPathResult;
  readonly shared: SharedBudgetResult;
  readonly dashboard: DashboardResult;
  readonly chat: ChatCountResult;
  readonly svgFile: string;
}

/** docs/benchmarks.md: every figure comes from the run that wrote it. */
export function benchmarksMarkdown(r: Report): string {
  const { scheduling, tokens, activation, sendPath, shared, dashboard, chat, machine } = r;
  const goals: [string, Goal][] = [
    ...scheduling.goals.map((g): [string, Goal] => ['Scheduling', g]),
    ...tokens.goals.map((g): [string, Goal] => ['Token counting', g]),
    ...activation.goals.map((g): [string, Goal] => ['Activation', g]),
    ...sendPath.goals.map((g): [string, Goal] => ['Send path', g]),
    ...shared.goals.map((g): [string, Goal] => ['Shared budget', g]),
    ...dashboard.goals.map((g): [string, Goal] => ['Dashboard', g]),
    ...chat.goals.map((g): [string, Goal] => ['Chat', g]),
  ];
  const goalRows = goals.map(
    ([section, g]) => `| ${section} | ${g.goal} | **${verdict(g)}** | ${escape(g.measured)} | ${escape(g.limitedBy ?? '')} |`,
  );
  return [
    '# Benchmarks',
    '',
    `Written by \`${r.command}\` on ${r.date.toISOString().replace('T', ' ').slice(0, 16)} UTC, in ${Math.round(r.totalSeconds)} s, measuring ${r.revision}. Every figure below was measured in that run; run it again rather than editing this file.`,
    '',
    `**Machine:** ${machine.cpu}, ${machine.cores} cores, ${machine.memory} RAM; Node ${machine.node}; ${machine.platform}; load average at the start ${machine.loadAverage} (1/5/15 min). Absolute times move with the machine and with whatever else runs on it; the ratios are against baselines measured in the same run.`,
    '',
    '## Goals',
    '',
    '| section | goal | verdict | measured | what limits it |',
    '|---|---|---|---|---|',
    ...goalRows,
    ...(activation.failure ? ['', `Activation was not measured: ${activation.failure}`] : []),
    ...(sendPath.failure ? ['', `The send path was not measured: ${sendPath.failure}`] : []),
    ...(chat.failure ? ['', `The chat's counts were not measured: ${chat.failure}`] : []),
    '',
    '## 1. Scheduling',
    '',
    "Every client sends the same prompts through the same model of Moonshot's server, in simulated time (a discrete-event clock: an hour of traffic takes seconds), so that the only difference between two rows is the client.",
    '',
    '**The server model** (`bench/scheduling/moonshotModel.ts`) applies the rules of Moonshot\'s documentation: RPM and TPM over a rolling 60 s window; a request charged 1 request and prompt + `max_tokens` tokens when it reaches the server; concurrency held until the answer\'s last byte; TPD over a rolling day. **Refused requests are charged like admitted ones** ("failed and retried requests still count"), so a 429 burns budget — the sensitivity table below shows the same runs with refusals free. A refusal answers 429 `rate_limit_reached_error` with Moonshot\'s messages: "max RPM: R, please try again after N seconds" (N rounded up, at least 1), "max concurrency: C, please try again after 1 seconds", "TPM rate limit, current:x, limit:y" and the TPD one (no wait stated).',
    `Each message takes ${NETWORK.minMs}–${NETWORK.maxMs} ms one way (uniform); an answer streams for ${ANSWER.firstTokenMs / 1000} s + its output tokens at ${ANSWER.tokensPerSecond} tokens/s after admission.`,
    '',
    '**The clients:**',
    '',
    ...CLIENTS.map((c) => `- **${c.name}**: ${c.description}.`),
    '',
    "Every client is given each prompt's true token count (how well the extension's local count matches the server's is a separate question: calibration, see the real-time run). The engine is driven through its real code path: `SendQueue.enqueue`, `attempt.serverAnswered()` when the response (or the 429) arrives, the server's prompt count to settle, refusals turned into `KimiError`s by `errorFromResponse` (the parser KimiClient uses) and classified by `verdictFor`. bottleneck reads `Date.now` and sets its own timers, so for its runs the global timers and `Date.now` are pointed at the simulated clock (`bench/scheduling/virtualTimers.ts`): it runs in the same simulated time, its timers exactly on time. With a hidden teammate the oracle knows the server's state but not the teammate's next request, so it is a reference there, not a bound. A client still running at 4× the oracle's time + 10 minutes is stopped (\"> …\"); its waits are then lower bounds (≥).",
    '',
    '**In short** (this run):',
    '',
    ...scheduling.summary.map((line) => `- ${line}`),
    '',
    "**Columns:** *last answer*: when the last prompt's answer had fully arrived; *× oracle*: that as a ratio to the oracle's; *429s*: refusals of this client, by limit; *budget burnt*: requests and tokens charged for its refused requests; *wait*: from a prompt's arrival to its admission by the server (the queue, pauses and retries), median and 95th percentile over the prompts; *teammate's requests refused*: what the hidden client suffered meanwhile; *prompts given up*: sends the engine abandoned after `maxAttempts` refusals, which the user then sends again.",
    '',
    ...scheduling.tables.flatMap((t) => [toMarkdown(t), '']),
    `![Budget use over time: the engine keeps just under the limit; retry-on-429 is refused and its refusals, charged, keep the window full](${r.svgFile})`,
    '',
    'The plot (`' +
      r.svgFile +
      "`), on the two bursts above: for each 5 s, the highest share of the limit debited within a trailing 60 s (the peak, since a client that sends a whole window at once empties the window for a moment each minute). Solid lines count admitted requests; the dashed line adds retry-on-429's refused ones, which the server charges too.",
    '',
    toMarkdown(scheduling.sensitivity),
    '',
    toMarkdown(scheduling.loopback),
    '',
    '## 2. Token counting',
    '',
    'The corpus (nobody here wrote it):',
    '',
    ...tokens.sources.map((s) => `- ${s}`),
    '',
    'All four count o200k_base with special-token strings taken as plain text. The extension\'s counter is `TokenCounter` (src/tokens) with its worker `out/src/tokens/worker.js`; the libraries are called directly ("raw").',
    '',
    ...tokens.tables.flatMap((t) => [toMarkdown(t), '']),
    '## 3. Activation and size',
    '',
    ...activation.tables.flatMap((t) => [toMarkdown(t), '']),
    '## 4. The send path',
    '',
    ...sendPath.tables.flatMap((t) => [toMarkdown(t), '']),
    '## 5. One budget for the account',
    '',
    'Every window of a machine on one account admits through one store (docs/shared-budget.md). The teammate of section 1, now a second engine on the same store, waits its turn instead of colliding; and an admission stays cheap however many spends the day holds.',
    '',
    ...shared.tables.flatMap((t) => [toMarkdown(t), '']),
    '## 6. The budget dashboard',
    '',
    "What the dashboard (docs/dashboard.md) costs: the extension host's work to feed the page each second it is visible, against the status bar's own summary; one event into the usage series, against one spend into the ledger; and the page drawing a day at minute resolution in Chromium, against an hour.",
    '',
    ...dashboard.tables.flatMap((t) => [toMarkdown(t), '']),
    "## 7. Token counts for VS Code's chat",
    '',
    "VS Code's chat asks the `kimi` model for token counts often. Where the chat parts run (VS Code 1.104 and later), the tokenizer loads in its worker once the window has gone quiet after activation, so the chat's first count finds it ready (docs/chat.md).",
    '',
    ...chat.tables.flatMap((t) => [toMarkdown(t), '']),
    '## How to run',
    '',
    '```sh',
    'npm run bench        # compiles, packages the .vsix, then node out/bench/run.js',
    'npm run bench:send   # section 4 alone, printed; `-- FILE.vsix` measures another build',
    'npm run bench:dashboard   # section 6 alone, printed',
    'npm run bench:chat   # section 7 alone, printed (VS Code 1.106.3)',
    '```',
    '',
    'Everything runs on this machine and on loopback. The activation and send-path figures need VS Code 1.96.4 (code-server) and Chromium, which `test/vscode/install.js` installs the first time, as for `npm test`. The code is in `bench/`: `scheduling/` (server model, clients, workloads, the simulated clock, the loopback run), `tokens/`, `activation/`, `send/`, `report/`.',
    '',
  ].join('\n');
}

function escape(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, ' ');
}
