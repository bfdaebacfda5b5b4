// How the extension says things to people: counts, money, durations, the limits' names and why a
// send was refused. The layers below return numbers and structured reasons; they are put into
// words here, once, so that notifications, answer editors and the status bar say the same thing.
import type { SettingProblem } from '../core/config';
import { TIER_CHOICES, type LearnedLimit, type LimitName } from '../core/limits';
import type { Rejection } from '../core/sendQueue';
import type { DashboardWords } from '../webview/protocol';

/** 1234567 → "1,234,567": how every count is shown. */
export function formatCount(value: number): string {
  return value.toLocaleString('en-US');
}

/** 1234 → "1.2k", 150000 → "150k", 2000000 → "2M": counts where room is short (the status bar). */
export function compact(value: number): string {
  if (value < 1000) return String(value);
  if (value < 1_000_000) return `${trim(value / 1000)}k`;
  return `${trim(value / 1_000_000)}M`;
}

/** Dollars: four decimals below a cent, two from a cent up. */
export function formatUsd(usd: number): string {
  if (usd === 0) return '$0';
  return usd < 0.01 ? `$${usd.toFixed(4)}` : `$${usd.toFixed(2)}`;
}

/** Milliseconds as m:ss (or h:mm:ss), rounded up so "0:00" never shows while something waits. */
export function duration(ms: number): string {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const sec = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

/** A wait in words: seconds up to two minutes, then minutes up to two hours, then hours (rounded up). */
export function roughly(ms: number): string {
  if (ms < 120_000) return `${seconds(ms)} s`;
  return ms < 2 * 3_600_000 ? `${Math.ceil(ms / 60_000)} min` : `${Math.ceil(ms / 3_600_000)} h`;
}

/** Each limit as people read it, and the setting it comes from. */
export const LIMITS: Readonly<Record<LimitName, { readonly name: string; readonly setting: string }>> = {
  requestsPerMinute: { name: 'requests per minute', setting: 'kimiBudget.limits.requestsPerMinute' },
  tokensPerMinute: { name: 'tokens per minute', setting: 'kimiBudget.limits.tokensPerMinute' },
  concurrency: { name: 'requests in flight', setting: 'kimiBudget.limits.concurrency' },
  tokensPerDay: { name: 'tokens per day', setting: 'kimiBudget.limits.tokensPerDay' },
};

/** A limit the server stated (or, naming none, that was guessed), when, and from what words. */
export function describeLearned({ limit, value, at, evidence, scope, guessed }: LearnedLimit, now: number): string {
  const whose = scope === 'project' ? "the project's " : '';
  const how = guessed
    ? `guessed ${roughly(now - at)} ago from a refusal that named no limit (what the server had accepted that minute)`
    : `learned ${roughly(now - at)} ago`;
  return `${whose}${LIMITS[limit].name}: ${formatCount(value)}, ${how}, from "${evidence}"`;
}

/** What holds the head of the queue back, as the progress notification and the tooltip say it. */
export function heldBy(holder: LimitName | 'line' | 'serverPause'): string {
  if (holder === 'serverPause') return 'the server asked to wait';
  if (holder === 'line') return "other windows' sends, queued earlier";
  return holder === 'concurrency' ? 'concurrency (a running send must finish)' : LIMITS[holder].name;
}

/** Why the queue gave up on a send, and what to change. */
export function describeRejection(rejection: Rejection): string {
  switch (rejection.kind) {
    case 'impossible': {
      const { tokens, capacity, promptTokens, maxTokens } = rejection;
      const it = rejection.underNewLimits
        ? 'This prompt can no longer be sent under the new limits: it'
        : 'This prompt can never be sent: it';
      if (rejection.limit === 'contextWindow') {
        return `${it} needs ${promptTokens} prompt tokens + ${maxTokens} max output tokens = ${tokens}, above the model's context window of ${capacity} (${tokens - capacity} over); shorten the prompt or lower kimiBudget.maxOutputTokens.`;
      }
      return `${it} needs ${tokens} tokens but ${LIMITS[rejection.limit].setting} is ${capacity} (${tokens - capacity} over).`;
    }
    case 'queueFull':
      return `${rejection.waiting} sends are already waiting, the most kimiBudget.queue.maxLength allows. Wait for some to go, cancel some with "Kimi: Show Send Queue", or raise the setting.`;
    case 'waitTooLong':
      return `This send would wait about ${seconds(rejection.waitMs)} s for budget, longer than kimiBudget.queue.maxWaitSeconds (${seconds(rejection.maxWaitMs)} s). Send less at once, or raise the setting.`;
    case 'timedOut':
      return `The send waited ${seconds(rejection.waitedMs)} s without going out, the most kimiBudget.queue.maxWaitSeconds allows; send it again or raise the setting.`;
    case 'dayLimit': {
      const hint = rejection.tokensPerDaySet
        ? ''
        : `, and set ${LIMITS.tokensPerDay.setting} to your tier's daily limit so that sends wait here instead of being refused`;
      return `Moonshot's daily token limit (TPD) is reached: "${rejection.evidence}". When Moonshot's day rolls over is not known here, and room is only certain in about ${roughly(rejection.roomInMs)}, longer than kimiBudget.queue.maxWaitSeconds (${seconds(rejection.maxWaitMs)} s). Send it again later${hint}.`;
    }
    case 'accountStopped':
      return rejection.resumesInMs === undefined
        ? `Not sent: Moonshot refused a send before it for a reason waiting cannot cure: "${rejection.evidence}". Top up, or check the plan, in Moonshot's console; then send it again.`
        : `Not sent: Moonshot refused this account a moment ago for a reason waiting cannot cure: "${rejection.evidence}". Top up, or check the plan, in Moonshot's console. Sends go out again in ${roughly(rejection.resumesInMs)}, or at once when the key or the base URL changes.`;
    case 'cancelled':
      switch (rejection.when) {
        case 'waiting':
        case 'beforeSending':
          return 'The send was cancelled before it went out; no budget was spent.';
        case 'answering':
          return 'The send was cancelled while the answer was arriving; its budget stays spent.';
        case 'stopped':
          return 'The send was cancelled because the extension stopped.';
      }
  }
}

/** A setting whose value cannot be used: the key, the value, the rule and what is used meanwhile. */
export function describeSettingProblem({ key, value, expected, fallback }: SettingProblem): string {
  const setting = `kimiBudget.${key}`;
  const is = `${setting} is ${JSON.stringify(value)}, but it`;
  const using = typeof fallback === 'string' ? `using "${fallback}" until it is fixed.` : `using ${String(fallback)} until it is fixed.`;
  switch (expected.kind) {
    case 'integer':
      return `${is} must be ${expected.max === undefined ? `a whole number ≥ ${expected.min}` : `a whole number from ${expected.min} to ${expected.max}`}; ${using}`;
    case 'number':
      return `${is} must be a number from ${expected.min} to ${expected.max}, or unset; leaving it unset until it is fixed.`;
    case 'string':
      return `${is} must be a string; ${using}`;
    case 'nonEmpty':
      return `${is} must not be empty; ${using}`;
    case 'url':
      return `${is} is not a URL (expected something like https://api.moonshot.ai/v1); ${using}`;
    case 'https':
      return `${is} must start with https://; ${using}`;
    case 'notInsecureHttp':
      return `${is} would send your API key unencrypted over http:// to another machine; use https://, or set kimiBudget.allowInsecureHttp to true if you accept that; ${using}`;
    case 'redisUrl':
      return `${setting} is ${JSON.stringify(value)}, but it must be a Redis address such as redis://redis.example.com:6379/0 or rediss://user@host:6380 (empty turns the team budget off); the team budget stays off until it is fixed.`;
    case 'redisPassword':
      return `${setting} has a password in it, and settings are kept in clear: remove it from the URL and run "Kimi: Set Team Redis Password", which keeps it in VS Code's secret storage; the team budget stays off until then.`;
    case 'tier':
      return `${is} must be one of ${TIER_CHOICES.map((t) => `"${t}"`).join(', ')} (the tier Moonshot's console shows; "learn" takes the limits from the server's refusals); using ${String(fallback)} until it is fixed.`;
    case 'prices':
      return `${setting} must be an object of models, e.g. {"kimi-k2.6": {"input": 0.95, "output": 4}}; using the built-in prices.`;
    case 'price':
      return `${setting}["${expected.model}"] needs numbers ≥ 0 for "input" and "output" (and optionally "cachedInput"), in USD per million tokens; using the built-in price.`;
  }
}

/** Everything the budget dashboard says, sent to its page. */
export const DASHBOARD_WORDS: DashboardWords = {
  title: 'Kimi Budget',
  hour: 'Last hour',
  day: 'Last day',
  zoomHint: 'Drag across a chart to zoom in, double-click to zoom out.',
  usage: 'Use per minute',
  requestsChart: "Requests per minute, with the limit, the server's refusals (429) and its pauses",
  tokensChart: 'Tokens per minute, with the limit',
  lineChart: 'Sends waiting, and how long the sends that went out had waited',
  requests: 'requests',
  tokens: 'tokens',
  limit: 'limit',
  refusals: 'refusals (429)',
  paused: 'paused (s)',
  queue: 'waiting',
  meanWait: 'mean wait (s)',
  minute: 'minute',
  usageTable: 'Minutes with sends, refusals or a line, and their numbers',
  usageTableEmpty: 'Nothing was sent in this span.',
  usageNumbers: 'The numbers of these charts, minute by minute',
  now: 'Now',
  nowTable: 'The budget now (as in the status bar)',
  left: 'left',
  used: 'used',
  requestsPerMinute: 'requests / min',
  tokensPerMinute: 'tokens / min',
  tokensToday: 'tokens / day',
  noDailyLimit: 'no daily limit',
  queued: 'queued',
  inFlight: 'in flight',
  line: 'The line',
  lineTable: 'Sends waiting for the budget, in order',
  lineEmpty: 'No send waits.',
  send: 'send',
  eta: 'goes in',
  heldBy: 'held by',
  whose: 'whose',
  running: 'running',
  afterRunning: 'after a running send',
  costs: 'Cost',
  costChart: 'Cost per day over the last 30 days (USD)',
  costTable: 'Cost per day, last 30 days',
  modelTable: 'Cost per model, last 30 days',
  date: 'day',
  usd: 'USD',
  answers: 'answers',
  model: 'model',
  unpriced: 'without a price',
  accuracy: "Token estimate against the server's count",
  accuracyTable: "How far the prompt estimate was from the server's count, per model, over the last answers",
  accuracyEmpty: 'No answer reported its token count yet.',
  meanError: 'mean error',
  meanAbsoluteError: 'mean absolute error',
  lastEstimate: 'last estimate',
  lastServer: "last server's count",
};

/** Whose send waits in the account's line. */
export const WHOSE = { here: 'this window', otherWindow: 'another window', teammate: 'a teammate' } as const;

/** What holds a send that is not the head of the line. */
export const BEHIND_EARLIER = 'earlier sends';

/** The tooltip's link to the dashboard. */
export const DASHBOARD_LINK = 'Show the budget dashboard';

function seconds(ms: number): number {
  return Math.ceil(ms / 1000);
}

function trim(x: number): string {
  return x >= 100 ? String(Math.floor(x)) : (Math.floor(x * 10) / 10).toString();
}

/** A chat request waiting in the line: for how long, and what holds it back. */
export function chatWaiting(waitMs: number | undefined, holder: LimitName | 'line' | 'serverPause' | undefined): string {
  const why = holder ? `, held by ${heldBy(holder)}` : '';
  const when = waitMs === undefined ? 'once a running send finishes' : `in about ${roughly(Math.max(0, waitMs))}`;
  return `Waiting for Kimi's rate-limit budget: it goes out ${when}${why}.`;
}

/** What a chat request is charged at admission, and at most costs. */
export function chatEstimate(promptTokens: number, maxOutputTokens: number, maxCostUsd: number | undefined): string {
  const cost = maxCostUsd === undefined ? '' : `, at most ${formatUsd(maxCostUsd)}`;
  return `≈ ${formatCount(promptTokens)} prompt tokens + ${formatCount(maxOutputTokens)} max output${cost}`;
}

/** `@kimi /count`: the conversation so far as the next request would carry it. */
export function chatCount(promptTokens: number, messages: number, maxOutputTokens: number, maxCostUsd: number | undefined): string {
  const cost =
    maxCostUsd === undefined ? '' : ` It would cost at most ${formatUsd(maxCostUsd)} with ${formatCount(maxOutputTokens)} max output.`;
  return `This conversation holds ≈ ${formatCount(promptTokens)} tokens in ${messages} message${messages === 1 ? '' : 's'}; sent now it takes ${formatCount(promptTokens + maxOutputTokens)} of the minute's tokens.${cost}`;
}

/** The line under an answer of `@kimi`: what the server counted and what it cost. */
export function chatAnswered(promptTokens: number, completionTokens: number, costUsd: number | undefined, waitedMs: number): string {
  const waited = waitedMs >= 1000 ? ` · waited ${roughly(waitedMs)}` : '';
  const cost = costUsd === undefined ? '' : ` · ${formatUsd(costUsd)}`;
  return `${formatCount(promptTokens)} prompt + ${formatCount(completionTokens)} answer tokens${cost}${waited}`;
}

/** Beside the model's name in VS Code's model picker. */
export const CHAT_MODEL_DETAIL = 'through your rate-limit budget';

/** The model's tooltip in VS Code's model picker. */
export function chatModelTooltip(id: string, contextWindow: number, maxOutputTokens: number): string {
  return `${id} through the extension's rate-limit budget: ${formatCount(contextWindow)}-token context window, ${formatCount(maxOutputTokens)} max output (kimiBudget.maxOutputTokens).`;
}
