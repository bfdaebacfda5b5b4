/**
 * Refusals Moonshot's servers really sent, as users posted them in public issue threads (account
 * and key ids as they were posted, or masked where the poster masked them). The parser's unit tests
 * read each one, and the fake Moonshot server speaks them. Each names where it came from.
 *
 * What each should be read as: `kind` (what to do), and for a rate refusal the limit it names, the
 * number it states and, for TPM and TPD, what the server counted.
 */
import type { LimitName } from '../../src/core/limits';

export interface RealRefusal {
  readonly name: string;
  readonly status: number;
  readonly body: { readonly error: { readonly message: string; readonly type: string }; readonly type?: string };
  readonly source: string;
  readonly expect: {
    readonly kind: 'rateLimited' | 'overloaded' | 'quotaExhausted';
    readonly limit?: LimitName;
    readonly stated?: number;
    readonly current?: number;
    readonly scope?: 'organization' | 'project';
    readonly afterSeconds?: number;
  };
}

const error = (message: string, type: string) => ({ error: { message, type } });

export const REAL_REFUSALS: readonly RealRefusal[] = [
  {
    name: 'organization max RPM',
    status: 429,
    // MoonshotAI/kimi-cli issue #1599 (2026-03-27)
    source: 'https://github.com/MoonshotAI/kimi-cli/issues/1599',
    body: error(
      'Your account org-78cd08fac9804d20bac9a1f02fc1e6a5<ak-f94zcrj6ax1111aqsyq1> request reached organization max RPM: 20, please try again after 1 seconds',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'requestsPerMinute', stated: 20, scope: 'organization', afterSeconds: 1 },
  },
  {
    name: 'organization max RPM, Tier0',
    status: 429,
    // LLM-Red-Team/kimi-cc issue #16 (2025-07-14), Claude Code on the Anthropic endpoint
    source: 'https://github.com/LLM-Red-Team/kimi-cc/issues/16',
    body: error(
      'Your account org-e664b178c0f74d818f6b62f87efa49f7<ak-f3t8pfk16fki11gzh6i1> request reached organization max RPM: 3, please try again after 1 seconds',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'requestsPerMinute', stated: 3, scope: 'organization', afterSeconds: 1 },
  },
  {
    name: 'max organization concurrency (the word order the server sends)',
    status: 429,
    // LLM-Red-Team/kimi-cc issue #16; the same words in 666ghj/BettaFish issues #256 and #258
    source: 'https://github.com/LLM-Red-Team/kimi-cc/issues/16',
    body: error(
      'Your account org-e664b178c0f74d818f6b62f87efa49f7<ak-f3t8pfk16fki11gzh6i1> request reached max organization concurrency: 1, please try again after 1 seconds',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'concurrency', stated: 1, scope: 'organization', afterSeconds: 1 },
  },
  {
    name: "organization max concurrency (the documented word order; Moonshot's error table)",
    status: 429,
    // Moonshot's chat API error table (platform docs, "error description"); no real capture found
    source: 'https://platform.moonshot.ai/docs/api/chat (error table)',
    body: error(
      'Your account org-0123456789abcdef0123456789abcdef<ak-f3t8pfk16fki11gzh6i1> request reached organization max concurrency: 50, please try again after 1 seconds',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'concurrency', stated: 50, scope: 'organization', afterSeconds: 1 },
  },
  {
    name: 'older wording: max request',
    status: 429,
    // Quoted in harry0703/MoneyPrinterTurbo issue #339 (2024-05-06) and in code comments of several projects
    source: 'https://github.com/harry0703/MoneyPrinterTurbo/issues/339',
    body: error(
      'Your account co1fvuucp7f01qu4l34g<ak-er3hzz411h1i11gwmzti> request reached max request: 3, please try again after 1 seconds',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'requestsPerMinute', stated: 3, afterSeconds: 1 },
  },
  {
    name: 'organization TPD',
    status: 429,
    // MoonshotAI/kimi-cli issue #1599: the TPD refusal of the same account, with its project in the prefix
    source: 'https://github.com/MoonshotAI/kimi-cli/issues/1599',
    body: error(
      'Your account org-78cd08fac9804d20bac9a1f02fc1e6a5 / proj-a418892b55d04bbb929766740804aa41 <ak-f94zcrj6ax1111aqsyq1> request reached organization TPD rate limit, current: 1526210, limit: 1500000',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'tokensPerDay', stated: 1_500_000, current: 1_526_210, scope: 'organization' },
  },
  {
    name: 'organization TPD, no spaces (the documented form)',
    status: 429,
    // Moonshot's English error table writes "rate limit,current:{x}, limit:{y}"
    source: 'https://platform.moonshot.ai/docs/api/chat (error table)',
    body: error(
      'Your account org-0123456789abcdef0123456789abcdef<ak-f3t8pfk16fki11gzh6i1> request reached organization TPD rate limit,current:1508351, limit:1500000',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'tokensPerDay', stated: 1_500_000, current: 1_508_351, scope: 'organization' },
  },
  {
    name: 'organization TPM',
    status: 429,
    // No real capture found in public threads; the documented template with the spacing the real TPD
    // and project refusals use (Moonshot's error table)
    source: 'https://platform.moonshot.ai/docs/api/chat (error table)',
    body: error(
      'Your account org-0123456789abcdef0123456789abcdef<ak-f3t8pfk16fki11gzh6i1> request reached organization TPM rate limit, current: 563653, limit: 500000',
      'rate_limit_reached_error',
    ),
    expect: { kind: 'rateLimited', limit: 'tokensPerMinute', stated: 500_000, current: 563_653, scope: 'organization' },
  },
  {
    name: "a project's own TPM cap",
    status: 429,
    // LLM-Red-Team/kimi-cc issue #41 (2025-08-04): no "try again after" clause
    source: 'https://github.com/LLM-Red-Team/kimi-cc/issues/41',
    body: {
      error: {
        type: 'rate_limit_reached_error',
        message:
          'Your account xxxxx / proj-xxxxxx <ak-xxxxx> request reached project TPM rate limit, current: 1410, limit: 100, see https://platform.moonshot.cn/docs/pricing/limits',
      },
    },
    expect: { kind: 'rateLimited', limit: 'tokensPerMinute', stated: 100, current: 1410, scope: 'project' },
  },
  {
    name: 'a rate refusal naming no limit',
    status: 429,
    // LLM-Red-Team/kimi-cc issue #16, the first refusal of the thread
    source: 'https://github.com/LLM-Red-Team/kimi-cc/issues/16',
    body: error('Organization Rate limit exceeded, please try again after 1 seconds', 'rate_limit_reached_error'),
    expect: { kind: 'rateLimited', afterSeconds: 1 },
  },
  {
    name: 'engine overloaded',
    status: 429,
    // MoonshotAI/kimi-cli issue #2571 (2026-07-30, Kimi K3); the same body in MoonshotAI-Cookbook issue #16
    source: 'https://github.com/MoonshotAI/kimi-cli/issues/2571',
    body: error('The engine is currently overloaded, please try again later', 'engine_overloaded_error'),
    expect: { kind: 'overloaded' },
  },
  {
    name: 'engine overloaded, as the Anthropic endpoint says it',
    status: 429,
    // earendil-works/pi issue #3494: the overload typed rate_limit_error on /anthropic
    source: 'https://github.com/earendil-works/pi/issues/3494',
    body: { error: { type: 'rate_limit_error', message: 'The engine is currently overloaded, please try again later' }, type: 'error' },
    expect: { kind: 'overloaded' },
  },
  {
    name: 'balance gone (429)',
    status: 429,
    // anomalyco/opencode issue #25458 (2026-04), the upstream body
    source: 'https://github.com/anomalyco/opencode/issues/25458',
    body: error(
      'Your account org-446a70bb2cc542e3960c0b7f05e4e0e1 <ak-f817m9q3k3wi11gjwbgi> is suspended due to insufficient balance, please recharge your account or check your plan and billing details',
      'exceeded_current_quota_error',
    ),
    expect: { kind: 'quotaExhausted' },
  },
  {
    name: 'quota exceeded (403)',
    status: 403,
    // MoonshotAI/Kimi-K2 issue #5 (2025-07): an account never funded
    source: 'https://github.com/MoonshotAI/Kimi-K2/issues/5',
    body: error(
      'Your account org-0123456789abcdef0123456789abcdef<ak-f3t8pfk16fki11gzh6i1> is not active, organization <org-0123456789abcdef0123456789abcdef> exceeded current quota, please check your plan and billing details',
      'exceeded_current_quota_error',
    ),
    expect: { kind: 'quotaExhausted' },
  },
  {
    name: "Kimi Code's weekly quota (403 access_terminated_error)",
    status: 403,
    // openclaw/openclaw pull request #142656, a fixture copied from captures of api.kimi.com/coding
    source: 'https://github.com/openclaw/openclaw/pull/142656',
    body: error(
      "You've reached your weekly (7-day) usage limit. Your quota will reset when the current 7-day window ends. To continue now, purchase extra usage or upgrade your plan: https://www.kimi.com/membership/subscription?tab=quota",
      'access_terminated_error',
    ),
    expect: { kind: 'quotaExhausted' },
  },
];

/** The refusal a Moonshot server at these limits sends, in the words the real one uses. */
export function refusalFor(
  limit: LimitName,
  stated: number,
  current = 0,
  scope: 'organization' | 'project' = 'organization',
): { error: { message: string; type: string } } {
  const who = 'Your account org-0123456789abcdef0123456789abcdef<ak-f3t8pfk16fki11gzh6i1> request reached';
  const words: Record<LimitName, string> = {
    requestsPerMinute: `${who} ${scope} max RPM: ${stated}, please try again after 1 seconds`,
    concurrency: `${who} max ${scope} concurrency: ${stated}, please try again after 1 seconds`,
    tokensPerMinute: `${who} ${scope} TPM rate limit, current: ${current}, limit: ${stated}`,
    tokensPerDay: `${who} ${scope} TPD rate limit, current: ${current}, limit: ${stated}`,
  };
  return error(words[limit], 'rate_limit_reached_error');
}
